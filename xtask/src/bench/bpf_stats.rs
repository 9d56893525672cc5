//! Run-time statistics of the gateway's eBPF programs: how often each
//! ran and for how long, read from the kernel (`run_cnt`, `run_time_ns`
//! of `bpf_prog_info`), which counts only while statistics are enabled.
//!
//! The programs are found through the links the gateway pinned in its pin
//! directory, so other programs loaded on the machine never count.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::fd::OwnedFd;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use aya::programs::links::{FdLink, PinnedLink};
use serde::Serialize;

const SYSCTL: &str = "/proc/sys/kernel/bpf_stats_enabled";

/// Statistics stay enabled while this lives.
pub enum StatsEnabled {
    /// `BPF_ENABLE_STATS` (Linux 5.8+): on until the descriptor is closed,
    /// even if we crash.
    Fd(#[expect(dead_code, reason = "held only to keep statistics on")] OwnedFd),
    /// The sysctl, for older kernels: restored to `previous` on drop.
    Sysctl { previous: String },
}

impl StatsEnabled {
    pub fn enable() -> Result<Self> {
        match aya::sys::enable_stats(aya::sys::Stats::RunTime) {
            Ok(fd) => Ok(Self::Fd(fd)),
            Err(error) => {
                let previous = fs::read_to_string(SYSCTL).with_context(|| {
                    format!("enabling BPF run-time statistics: BPF_ENABLE_STATS failed ({error}) and {SYSCTL} is not readable")
                })?;
                fs::write(SYSCTL, "1").with_context(|| format!("writing 1 to {SYSCTL}"))?;
                Ok(Self::Sysctl { previous })
            }
        }
    }
}

impl Drop for StatsEnabled {
    fn drop(&mut self) {
        if let Self::Sysctl { previous } = self {
            let _ = fs::write(SYSCTL, previous.trim());
        }
    }
}

/// The ids of the programs behind the links pinned in a pin directory.
pub struct PinnedPrograms {
    ids: BTreeSet<u32>,
}

impl PinnedPrograms {
    pub fn in_pin_dir(pin_dir: &Path) -> Result<Self> {
        let mut ids = BTreeSet::new();
        let entries = fs::read_dir(pin_dir).with_context(|| {
            format!("listing the gateway's pin directory {}", pin_dir.display())
        })?;
        for entry in entries {
            let path = entry
                .with_context(|| format!("listing {}", pin_dir.display()))?
                .path();
            let link = PinnedLink::from_pin(&path)
                .with_context(|| format!("opening the pinned link {}", path.display()))?;
            let info = FdLink::from(link)
                .info()
                .with_context(|| format!("reading the link {}", path.display()))?;
            ids.insert(info.program_id());
        }
        if ids.is_empty() {
            bail!("no pinned links in {}", pin_dir.display());
        }
        Ok(Self { ids })
    }

    /// Their counters now.
    pub fn snapshot(&self) -> Result<ProgramRuns> {
        let mut runs = ProgramRuns::default();
        for info in aya::programs::loaded_programs() {
            let info = info.context("listing loaded eBPF programs")?;
            if !self.ids.contains(&info.id()) {
                continue;
            }
            let name = info
                .name_as_str()
                .map_or_else(|| format!("id {}", info.id()), str::to_owned);
            let run = ProgramRun {
                calls: info.run_count(),
                run_time_ns: u64::try_from(info.run_time().as_nanos()).unwrap_or(u64::MAX),
            };
            runs.0.entry(name).or_default().add(run);
        }
        Ok(runs)
    }
}

/// Calls and time of one program (or of all programs with one name).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProgramRun {
    pub calls: u64,
    pub run_time_ns: u64,
}

impl ProgramRun {
    fn add(&mut self, other: Self) {
        self.calls += other.calls;
        self.run_time_ns += other.run_time_ns;
    }

    /// Mean time per call.
    #[expect(
        clippy::cast_precision_loss,
        reason = "counters far below 2^52 in a benchmark"
    )]
    pub fn ns_per_call(self) -> Option<f64> {
        (self.calls > 0).then(|| self.run_time_ns as f64 / self.calls as f64)
    }
}

/// Counters by program name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProgramRuns(pub BTreeMap<String, ProgramRun>);

impl ProgramRuns {
    /// What ran between `earlier` and `self`.
    #[must_use]
    pub fn since(&self, earlier: &Self) -> Self {
        let mut delta = Self::default();
        for (name, now) in &self.0 {
            let before = earlier.0.get(name).copied().unwrap_or_default();
            delta.0.insert(
                name.clone(),
                ProgramRun {
                    calls: now.calls.saturating_sub(before.calls),
                    run_time_ns: now.run_time_ns.saturating_sub(before.run_time_ns),
                },
            );
        }
        delta
    }

    /// Adds `other`'s counters to these.
    pub fn accumulate(&mut self, other: &Self) {
        for (name, run) in &other.0 {
            self.0.entry(name.clone()).or_default().add(*run);
        }
    }

    pub fn get(&self, name: &str) -> ProgramRun {
        self.0.get(name).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(entries: &[(&str, u64, u64)]) -> ProgramRuns {
        ProgramRuns(
            entries
                .iter()
                .map(|&(name, calls, run_time_ns)| {
                    (name.to_owned(), ProgramRun { calls, run_time_ns })
                })
                .collect(),
        )
    }

    #[test]
    fn deltas_and_sums() {
        let before = runs(&[("gw_connect4", 10, 1_000)]);
        let after = runs(&[("gw_connect4", 30, 5_000), ("gw_egress", 4, 400)]);
        let delta = after.since(&before);
        assert_eq!(
            delta,
            runs(&[("gw_connect4", 20, 4_000), ("gw_egress", 4, 400)])
        );
        assert_eq!(delta.get("gw_connect4").ns_per_call(), Some(200.0));
        assert_eq!(delta.get("gw_sock_ops").ns_per_call(), None);
        let mut total = delta.clone();
        total.accumulate(&delta);
        assert_eq!(
            total.get("gw_egress"),
            ProgramRun {
                calls: 8,
                run_time_ns: 800
            }
        );
    }
}
