//! Pinning threads to one CPU, so that a latency measurement shows the
//! work on the path rather than where the scheduler happened to put the
//! threads. On a virtual machine whose idle vCPUs halt, waking a thread on
//! another, idle vCPU costs tens of microseconds, more than the path.

use std::fs;
use std::io;

use anyhow::{Context as _, Result};

/// Every thread of some processes, pinned to one CPU; dropping it gives
/// each thread back the CPUs it had.
pub struct PinnedThreads {
    previous: Vec<(libc::pid_t, libc::cpu_set_t)>,
}

impl PinnedThreads {
    /// Pins the threads that `pids` have now (threads they start later
    /// inherit the CPU of the thread that starts them).
    pub fn pin(pids: &[u32], cpu: usize) -> Result<Self> {
        let target = one_cpu(cpu);
        let mut pinned = Self {
            previous: Vec::new(),
        };
        for &pid in pids {
            let dir = format!("/proc/{pid}/task");
            let tasks = fs::read_dir(&dir).with_context(|| format!("listing {dir}"))?;
            for task in tasks {
                let Some(tid) = task
                    .ok()
                    .and_then(|task| task.file_name().to_str()?.parse::<libc::pid_t>().ok())
                else {
                    continue;
                };
                // A thread that ended meanwhile has nothing to pin.
                let Ok(before) = get(tid) else { continue };
                match set(tid, &target) {
                    Ok(()) => pinned.previous.push((tid, before)),
                    Err(error) if error.raw_os_error() == Some(libc::ESRCH) => {}
                    Err(error) => {
                        return Err(error).with_context(|| {
                            format!("pinning thread {tid} of {pid} to CPU {cpu}")
                        });
                    }
                }
            }
        }
        Ok(pinned)
    }
}

impl Drop for PinnedThreads {
    fn drop(&mut self) {
        for (tid, mask) in &self.previous {
            let _ = set(*tid, mask);
        }
    }
}

/// Pins the calling thread (and the threads it starts later) to `cpu`.
pub fn pin_this_thread(cpu: usize) -> Result<()> {
    set(0, &one_cpu(cpu)).with_context(|| format!("pinning this process to CPU {cpu}"))
}

fn one_cpu(cpu: usize) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET ignores CPUs beyond the set's size; `set` is valid.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set
}

fn get(tid: libc::pid_t) -> io::Result<libc::cpu_set_t> {
    // SAFETY: as in `one_cpu`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the kernel writes at most the size we pass into `set`.
    let ret = unsafe { libc::sched_getaffinity(tid, size_of::<libc::cpu_set_t>(), &raw mut set) };
    if ret == 0 {
        Ok(set)
    } else {
        Err(io::Error::last_os_error())
    }
}

fn set(tid: libc::pid_t, mask: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: the kernel reads at most the size we pass from `mask`.
    let ret = unsafe { libc::sched_setaffinity(tid, size_of::<libc::cpu_set_t>(), mask) };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
