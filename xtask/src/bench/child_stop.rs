//! Stopping the benchmark's child processes (gateway, mitmdump, nginx,
//! upstream, clients): ask, wait a little, then kill.

use std::process::Child;
use std::time::{Duration, Instant};

/// Sends SIGTERM to `child` if it still runs, then [`wait_or_kill`].
pub fn terminate(child: &mut Child, grace: Duration) -> bool {
    if matches!(child.try_wait(), Ok(None)) {
        let pid = libc::pid_t::try_from(child.id()).unwrap_or(libc::pid_t::MAX);
        // SAFETY: kill(2) has no memory-safety preconditions. The pid is
        // our child's and it has not been reaped (try_wait just said it is
        // running), so it cannot belong to another process.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    wait_or_kill(child, grace)
}

/// Waits up to `grace` for `child` to end (it was asked to: a signal, its
/// stdin closed), then kills it. Whether it ended by itself.
pub fn wait_or_kill(child: &mut Child, grace: Duration) -> bool {
    let deadline = Instant::now() + grace;
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if matches!(child.try_wait(), Ok(None)) {
        let _ = child.kill();
        let _ = child.wait();
        return false;
    }
    true
}
