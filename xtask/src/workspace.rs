//! Where things are in the repository.

use std::env;
use std::path::{Path, PathBuf};

/// The repository root: the parent of this crate's directory.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one directory below the repository root")
}

/// The cargo target directory (`CARGO_TARGET_DIR` when set, else `<root>/target`).
pub fn target_dir() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => root().join(dir),
        None => root().join("target"),
    }
}

/// The release gateway binary.
pub fn gateway_binary() -> PathBuf {
    target_dir().join("release").join("gateway")
}
