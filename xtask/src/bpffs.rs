//! Mounting bpffs at /sys/fs/bpf: the gateway pins its links there, so that
//! enforcement outlives the process.

use std::path::Path;

use anyhow::Result;

use crate::{mounts, step};

const BPFFS: &str = "/sys/fs/bpf";

pub fn ensure() -> Result<()> {
    let mount_point = Path::new(BPFFS);
    if mounts::is_mounted(&mounts::read()?, mount_point, "bpf") {
        step::say(format_args!("bpffs is mounted at {BPFFS}"));
        return Ok(());
    }
    step::run(
        step::command("mount").args(["-t", "bpf", "bpf", BPFFS]),
        "mounting bpffs",
        "the kernel needs CONFIG_BPF_SYSCALL, and a container needs to be privileged; \
         try `mount -t bpf bpf /sys/fs/bpf` by hand",
    )
}
