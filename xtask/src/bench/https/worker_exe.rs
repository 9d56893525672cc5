//! The binary that runs the upstream and the clients: an optimised xtask.
//!
//! `cargo xtask` runs an unoptimised build, whose rustls, ring and hyper
//! are many times slower than the gateway's: the clients and the upstream
//! would then be the bottleneck of every route, and every ratio would be
//! squeezed towards 1. So this benchmark builds xtask once more with
//! `--release` and runs its workers from that.

use std::env;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};

use crate::{step, workspace};

pub fn find_or_build() -> Result<PathBuf> {
    let current = env::current_exe().context("finding the running xtask binary")?;
    if !cfg!(debug_assertions) {
        return Ok(current);
    }
    step::run(
        step::command("cargo")
            .args(["build", "--release", "--package", "xtask"])
            .current_dir(workspace::root()),
        "building an optimised xtask for the benchmark's upstream and clients",
        "read the compiler errors above",
    )?;
    let binary = workspace::target_dir().join("release").join("xtask");
    if !binary.is_file() {
        bail!("cargo built xtask but {} is missing", binary.display());
    }
    Ok(binary)
}
