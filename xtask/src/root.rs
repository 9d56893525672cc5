//! Checking that xtask runs as root, which installing packages, mounting bpffs,
//! creating cgroups and loading eBPF programs all need.

use std::fs;

use anyhow::{Context as _, Result, bail};

const PROC_STATUS: &str = "/proc/self/status";

pub fn ensure() -> Result<()> {
    let status =
        fs::read_to_string(PROC_STATUS).with_context(|| format!("reading {PROC_STATUS}"))?;
    let euid = effective_uid(&status)
        .with_context(|| format!("no readable `Uid:` line in {PROC_STATUS}"))?;
    if euid != 0 {
        bail!(
            "xtask must run as root (effective uid is {euid}): it installs packages, mounts \
             bpffs and loads eBPF programs. Rerun it from a root shell (`sudo -i`)"
        );
    }
    Ok(())
}

/// The effective uid: the second number of the `Uid:` line (real, effective, saved, fs).
fn effective_uid(status: &str) -> Option<u32> {
    let uids = status.lines().find_map(|line| line.strip_prefix("Uid:"))?;
    uids.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_effective_uid() {
        let status = "Name:\tcat\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n";
        assert_eq!(effective_uid(status), Some(0));
        assert_eq!(effective_uid("Name:\tcat\n"), None);
    }
}
