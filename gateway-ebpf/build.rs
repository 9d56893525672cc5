use which::which;

/// Building this crate needs the `bpf-linker` binary, which cargo cannot
/// express as a dependency. Rebuild when it changes.
fn main() {
    let bpf_linker = which("bpf-linker").expect(
        "bpf-linker is not on PATH: run `cargo xtask setup` (it installs the eBPF toolchain)",
    );
    println!("cargo:rerun-if-changed={}", bpf_linker.display());
}
