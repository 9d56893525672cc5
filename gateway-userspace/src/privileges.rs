//! The gateway loads eBPF programs, attaches them to cgroups and enters
//! network namespaces: all of which need root.

#[derive(Debug, thiserror::Error)]
#[error(
    "the gateway must run as root (it loads eBPF programs, attaches them to cgroups and enters network namespaces); try `sudo`"
)]
pub struct NotRoot;

pub fn require_root() -> Result<(), NotRoot> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        Ok(())
    } else {
        Err(NotRoot)
    }
}
