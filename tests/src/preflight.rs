//! What every integration test needs before it starts: root, and the binary under test.
//!
//! Nothing here skips: a test that cannot run panics and says why.

use std::path::PathBuf;

/// Panics unless the test runs as root (the gateway loads eBPF programs,
/// and the harness creates cgroups and network namespaces).
pub fn require_root() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert!(
        euid == 0,
        "the gateway integration tests must run as root (euid is {euid}); \
         run `sudo -E cargo xtask test` from the repository root"
    );
}

/// The gateway binary under test, from `GATEWAY_BIN` (set by `cargo xtask test`).
pub fn gateway_bin() -> PathBuf {
    let Some(bin) = std::env::var_os("GATEWAY_BIN") else {
        panic!(
            "GATEWAY_BIN is not set: run the tests with `cargo xtask test` from the repository \
             root, or set GATEWAY_BIN=<absolute path of target/release/gateway>"
        );
    };
    let bin = PathBuf::from(bin);
    assert!(
        bin.is_absolute() && bin.is_file(),
        "GATEWAY_BIN={} is not an absolute path to an existing file",
        bin.display()
    );
    bin
}

/// The repository root, from `GATEWAY_REPO`, falling back to this crate's parent.
pub fn repo_root() -> PathBuf {
    std::env::var_os("GATEWAY_REPO").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("the tests crate sits inside the repository")
                .to_path_buf()
        },
        PathBuf::from,
    )
}

/// A file under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    assert!(path.is_file(), "missing test fixture {}", path.display());
    path
}

/// Both checks at once: what a test calls first.
pub fn require_root_and_gateway() -> PathBuf {
    require_root();
    gateway_bin()
}
