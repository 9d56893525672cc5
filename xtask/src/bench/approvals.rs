//! `cargo xtask bench approvals`: what creating and durably storing an
//! approval, and appending to the audit log, cost per operation with
//! 10,000 approvals pending, against a raw sled insert + flush of the same
//! size measured in the same run on the same disk. The measuring itself is
//! `gateway bench-store` (hidden), which links the real store; this task
//! builds the gateway, gives it a scratch directory on the disk of the
//! target directory (not a tmpfs), and reports. Target: p99 under 1 ms for
//! the approval and for the durable audit append. A missed target prints
//! FAIL but the run still succeeds (it is a benchmark, not a test).
//! Results go to the terminal and to `target/bench/approvals.json`.

use std::{fs, path::PathBuf, process::Command};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use super::{machine::Machine, table::Table};
use crate::{build, step, workspace};

const PENDING: usize = 10_000;
const SAMPLES: usize = 2_000;
/// The target for the operations a person waits on, in microseconds.
const TARGET_P99_US: f64 = 1000.0;
const TARGETED: [&str; 2] = ["approval create + flush", "audit append, durable"];

#[derive(Debug, Serialize, Deserialize)]
struct Measured {
    operation: String,
    samples: usize,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoreReport {
    pending_before: usize,
    fill_seconds: f64,
    operations: Vec<Measured>,
}

#[derive(Debug, Serialize)]
struct Outcome {
    machine: Machine,
    gateway_binary: String,
    filesystem: String,
    /// The machine is shared: its load says how much to trust the tail.
    load_average: String,
    report: StoreReport,
}

pub fn run() -> Result<()> {
    let binary = match std::env::var_os("GATEWAY_BIN").filter(|bin| !bin.is_empty()) {
        Some(binary) => PathBuf::from(binary),
        None => build::run()?,
    };
    let machine = Machine::describe();
    let scratch = workspace::target_dir()
        .join("bench")
        .join(format!("approvals-state-{}", std::process::id()));
    fs::create_dir_all(scratch.parent().expect("has a parent"))
        .with_context(|| format!("creating {}", scratch.display()))?;
    let filesystem = filesystem_of(&scratch);
    let load_average = fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    step::say(format_args!(
        "bench approvals on {} ({} cores), kernel {}; store in {} ({filesystem}); {PENDING} pending, {SAMPLES} samples each",
        machine.cpu,
        machine.cores,
        machine.kernel,
        scratch.display()
    ));
    let output = Command::new(&binary)
        .arg("bench-store")
        .arg("--state-dir")
        .arg(&scratch)
        .args(["--pending", &PENDING.to_string()])
        .args(["--samples", &SAMPLES.to_string()])
        .output()
        .with_context(|| format!("running {} bench-store", binary.display()));
    let _ = fs::remove_dir_all(&scratch);
    let output = output?;
    anyhow::ensure!(
        output.status.success(),
        "gateway bench-store failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let report: StoreReport =
        serde_json::from_slice(&output.stdout).context("reading bench-store's report")?;
    let outcome = Outcome {
        machine,
        gateway_binary: binary.display().to_string(),
        filesystem,
        load_average,
        report,
    };
    print(&outcome);
    let path = super::results::write_json("approvals", &outcome)?;
    println!("\nresults: {}", path.display());
    Ok(())
}

fn print(outcome: &Outcome) {
    let machine = &outcome.machine;
    println!(
        "\nbench approvals, {}: {} ({} cores), Linux {}; {}",
        machine.date, machine.cpu, machine.cores, machine.kernel, outcome.filesystem
    );
    println!(
        "{} approvals pending before measuring (filled in {:.1} s); load average before: {}",
        outcome.report.pending_before, outcome.report.fill_seconds, outcome.load_average
    );
    let mut table = Table::new([
        "operation",
        "samples",
        "p50 µs",
        "p99 µs",
        "max µs",
        "target",
    ]);
    for m in &outcome.report.operations {
        let verdict = if TARGETED.contains(&m.operation.as_str()) {
            if m.p99_us < TARGET_P99_US {
                "PASS (p99 < 1 ms)"
            } else {
                "FAIL (p99 ≥ 1 ms)"
            }
        } else {
            ""
        };
        table.row(vec![
            m.operation.clone(),
            m.samples.to_string(),
            format!("{:.1}", m.p50_us),
            format!("{:.1}", m.p99_us),
            format!("{:.1}", m.max_us),
            verdict.to_owned(),
        ]);
    }
    println!("{}", table.render());
}

/// `ext4 on /dev/vda`, from /proc/mounts: the mount holding `path`.
fn filesystem_of(path: &std::path::Path) -> String {
    let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut best: Option<(usize, String)> = None;
    for line in mounts.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let [device, mount_point, kind, ..] = fields[..]
            && path.starts_with(mount_point)
            && best
                .as_ref()
                .is_none_or(|(len, _)| mount_point.len() > *len)
        {
            best = Some((mount_point.len(), format!("{kind} on {device}")));
        }
    }
    best.map_or_else(|| "unknown filesystem".to_owned(), |(_, text)| text)
}
