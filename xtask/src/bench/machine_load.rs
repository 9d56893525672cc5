//! How busy the machine was with other work during a measurement: CPU
//! time of everything else, and time the hypervisor stole from this VM.
//! On a shared machine this tells a quiet run from a disturbed one.

use std::fs;
use std::time::Instant;

use serde::Serialize;

/// Counters at one moment.
#[derive(Debug, Clone, Copy)]
pub struct LoadSnapshot {
    at: Instant,
    /// CPU time of all processes (user, nice, system), in ticks. Interrupt
    /// and softirq time is left out on both sides: much of it is the
    /// benchmark's own loopback traffic, which the kernel charges to no
    /// process.
    busy: u64,
    /// Time stolen by the hypervisor, in ticks.
    steal: u64,
    /// CPU time of this process, its reaped children and `also` (pids), in ticks.
    own: u64,
}

/// Averages over an interval, in CPUs (1.0 = one CPU all the time).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Load {
    /// CPU used by processes other than the benchmark's own.
    pub others_cpus: f64,
    /// CPU the hypervisor took away from this machine.
    pub steal_cpus: f64,
}

impl LoadSnapshot {
    /// `also`: processes of the benchmark that are not reaped yet (the gateway).
    pub fn now(also: &[u32]) -> Self {
        let (busy, steal) = machine_ticks().unwrap_or_default();
        let own = own_ticks()
            + also
                .iter()
                .filter_map(|&pid| process_ticks(pid))
                .sum::<u64>();
        Self {
            at: Instant::now(),
            busy,
            steal,
            own,
        }
    }

    /// What happened between `earlier` and this.
    #[expect(clippy::cast_precision_loss, reason = "tick counts far below 2^52")]
    pub fn since(&self, earlier: &Self) -> Load {
        let seconds = self.at.duration_since(earlier.at).as_secs_f64().max(1e-3);
        let per_second = ticks_per_second() as f64;
        let cpus = |ticks: u64| ticks as f64 / per_second / seconds;
        let busy = self.busy.saturating_sub(earlier.busy);
        let own = self.own.saturating_sub(earlier.own);
        Load {
            others_cpus: cpus(busy.saturating_sub(own)),
            steal_cpus: cpus(self.steal.saturating_sub(earlier.steal)),
        }
    }
}

/// (busy, steal) from the `cpu` line of /proc/stat.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal guest guest_nice
    let field = |index: usize| fields.get(index).copied().unwrap_or(0);
    Some((field(0) + field(1) + field(2), field(7)))
}

/// CPU time (user and system) a live process has used so far.
pub fn process_cpu_ns(pid: u32) -> Option<u64> {
    Some(process_ticks(pid)? * (1_000_000_000 / ticks_per_second()))
}

/// utime + stime of a live process.
fn process_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: count fields after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    Some(fields.next()?.parse::<u64>().ok()? + fields.next()?.parse::<u64>().ok()?)
}

/// This process and its reaped children (the clients), in ticks.
fn own_ticks() -> u64 {
    let used = |who| {
        // SAFETY: rusage is a plain C struct for which zeroes are valid.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `usage` is writable and of the type getrusage expects.
        if unsafe { libc::getrusage(who, &raw mut usage) } != 0 {
            return 0;
        }
        let micros = |time: libc::timeval| {
            u64::try_from(time.tv_sec).unwrap_or(0) * 1_000_000
                + u64::try_from(time.tv_usec).unwrap_or(0)
        };
        micros(usage.ru_utime) + micros(usage.ru_stime)
    };
    let micros = used(libc::RUSAGE_SELF) + used(libc::RUSAGE_CHILDREN);
    micros * ticks_per_second() / 1_000_000
}

fn ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a constant of the system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        assert!(process_ticks(std::process::id()).is_some());
        assert!(machine_ticks().is_some());
    }
}
