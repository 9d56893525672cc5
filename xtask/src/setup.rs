//! `cargo xtask setup`: make this machine able to build, run and test the
//! gateway. Every step checks first, so a second run takes seconds.

use anyhow::Result;

use crate::{apt, bpf_linker, bpffs, llvm_prefix, mounts, root, step, toolchain};

pub fn run() -> Result<()> {
    step::say("setup: checking that we run as root");
    root::ensure()?;
    let cgroup2 = mounts::cgroup2_mount()?;
    step::say(format_args!(
        "cgroup v2 is mounted at {}",
        cgroup2.display()
    ));
    apt::ensure()?;
    toolchain::ensure()?;
    let prefix = llvm_prefix::ensure()?;
    bpf_linker::ensure(&prefix)?;
    bpffs::ensure()?;
    step::say("setup: done");
    Ok(())
}
