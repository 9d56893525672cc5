//! Facts about agent processes read from /proc.

use std::os::unix::fs::MetadataExt as _;

const CAP_NET_RAW: u32 = 13;

/// Inode of the process's network namespace.
#[must_use]
pub fn netns_inode(pid: u32) -> Option<u64> {
    std::fs::metadata(format!("/proc/{pid}/ns/net"))
        .ok()
        .map(|m| m.ino())
}

/// Whether the process can open packet sockets, which no cgroup hook
/// sees: such a process can send frames past the gateway.
#[must_use]
pub fn has_cap_net_raw(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_NET_RAW) != 0)
}
