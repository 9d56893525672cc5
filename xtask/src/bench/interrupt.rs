//! Ctrl-C during a benchmark: instead of dying at once (which would leave
//! the cgroups, the pinned programs and the gateway behind), xtask notes
//! it and returns an error at the next check, so every guard's `Drop`
//! cleans up. The children share the terminal's process group, so they
//! get the signal themselves and stop.

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Result, bail};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn note(_signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Installs the handler for SIGINT and SIGTERM.
pub fn catch() {
    let handler = note as extern "C" fn(libc::c_int);
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `note` is async-signal-safe (one atomic store) and has
        // the signature signal(2) expects; it stays valid for the whole run.
        unsafe {
            libc::signal(signal, handler as libc::sighandler_t);
        }
    }
}

/// Fails once SIGINT or SIGTERM has arrived.
pub fn check() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted; cleaning up");
    }
    Ok(())
}
