//! `cargo xtask build`: set up, then build the release gateway binary. The
//! userspace crate's build script builds the eBPF programs with the nightly
//! (through aya-build) and embeds them.

use std::path::PathBuf;

use anyhow::{Result, bail};

use crate::{setup, step, workspace};

/// Builds target/release/gateway and returns its path.
pub fn run() -> Result<PathBuf> {
    setup::run()?;
    step::run(
        step::command("cargo")
            .args(["build", "--release", "--package", "gateway-userspace"])
            .current_dir(workspace::root()),
        "building the gateway",
        "read the compiler errors above; errors from the eBPF crate come through \
         gateway-userspace's build script (aya-build), and a bpf-linker failure there \
         means rerunning `cargo xtask setup`",
    )?;
    let binary = workspace::gateway_binary();
    if !binary.is_file() {
        bail!(
            "building the gateway: cargo succeeded but {} is missing; check the [[bin]] name \
             in gateway-userspace/Cargo.toml (it must be `gateway`)",
            binary.display()
        );
    }
    step::say(format_args!("built {}", binary.display()));
    Ok(binary)
}
