//! `gateway bench-store` (hidden): per-operation latency of the approvals
//! store and the audit log on the disk holding `--state-dir`, with many
//! approvals pending. `cargo xtask bench approvals` runs it. Prints one
//! JSON object: each operation's p50/p99/max in microseconds.

use std::{
    path::Path,
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use serde::Serialize;

use crate::{
    approvals::{
        ApprovalSettings,
        desk::{ApprovalDesk as _, Verdict},
        snapshot::{NewApproval, RequestSnapshot},
        store::{Admission, ApprovalStore},
    },
    audit::{AuditEvent, AuditKind, AuditLog},
    state,
};

#[derive(Serialize)]
struct Measured {
    operation: &'static str,
    samples: usize,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
}

#[derive(Serialize)]
struct Report {
    pending_before: usize,
    fill_seconds: f64,
    operations: Vec<Measured>,
}

pub fn run(dir: &Path, pending: usize, samples: usize) -> anyhow::Result<ExitCode> {
    if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        bail!(
            "{} is not empty: give an empty scratch directory",
            dir.display()
        );
    }
    let db = state::open_db(dir)?;
    let audit = AuditLog::open(&db)?;
    let settings = ApprovalSettings {
        max_pending_per_agent: usize::MAX,
        ..ApprovalSettings::default()
    };
    let store = ApprovalStore::open(&db, audit.clone(), settings)?;
    let requests = Requests::new()?;
    let fill = Instant::now();
    for n in 0..pending {
        store.admit(&requests.nth(n)).context("filling the store")?;
    }
    let fill_seconds = fill.elapsed().as_secs_f64();

    let mut create = Vec::with_capacity(samples);
    let mut ids = Vec::with_capacity(samples);
    for n in pending..pending + samples {
        let new = requests.nth(n);
        let start = Instant::now();
        let admission = store.admit(&new)?;
        create.push(start.elapsed());
        let Admission::Wait {
            approval,
            created: true,
        } = admission
        else {
            bail!("a new request did not create an approval: {admission:?}");
        };
        ids.push(approval.id);
    }
    let decide = timed(&ids, |id| {
        store.decide(id, Verdict::Approve, "bench", "bench", None)?;
        Ok(())
    })?;
    let (durable, enqueue) = audit_appends(&audit, samples)?;
    // The cleanup task's periodic pass over every approval.
    let scan = timed(&[(); 20], |()| {
        store.expire_due()?;
        Ok(())
    })?;
    let raw = db.open_tree("bench_raw")?;
    let value = vec![b'v'; 1200];
    let keys: Vec<u64> = (0..samples as u64).collect();
    let baseline = timed(&keys, |n| {
        raw.insert(n.to_be_bytes(), value.as_slice())?;
        db.flush()?;
        Ok(())
    })?;
    let report = Report {
        pending_before: pending,
        fill_seconds,
        operations: vec![
            measured("approval create + flush", create),
            measured("approval decide + flush", decide),
            measured("audit append, durable", durable),
            measured("audit record (request path, enqueue)", enqueue),
            measured("expiry scan of all approvals (every 5 s)", scan),
            measured("baseline: raw sled insert 1.2 KB + flush", baseline),
        ],
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

/// Distinct requests of the same shape as real ones (512-byte body).
struct Requests {
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Requests {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            headers: http::HeaderMap::from_iter([
                (http::header::CONTENT_TYPE, "application/json".parse()?),
                (http::header::AUTHORIZATION, "Bearer secret".parse()?),
            ]),
            body: vec![b'x'; 512],
        })
    }

    fn nth(&self, n: usize) -> NewApproval {
        NewApproval::new(&RequestSnapshot {
            agent: "bench",
            method: "POST",
            scheme: "https",
            host: "api.example.com",
            port: 443,
            path_and_query: &format!("/items/{n}?x=1"),
            headers: &self.headers,
            body: &self.body,
            rule: "bench",
            reason: "benchmark",
            request_id: &format!("bench-{n}"),
        })
    }
}

/// Durable appends (a decision) and enqueued ones (the request path).
fn audit_appends(
    audit: &AuditLog,
    samples: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let numbers: Vec<usize> = (0..samples).collect();
    let durable = timed(&numbers, |n| {
        let mut event = AuditEvent::new(AuditKind::Approved);
        event.approval_id = Some(format!("{n:016x}"));
        event.by = Some("bench".into());
        event.via = Some("cli".into());
        audit.record_durable_blocking(event)?;
        Ok(())
    })?;
    let many: Vec<usize> = (0..samples * 10).collect();
    let enqueue = timed(&many, |n| {
        let mut event = AuditEvent::new(AuditKind::Allowed);
        event.agent = Some("bench".into());
        event.path = Some(format!("/items/{n}"));
        audit.record(event);
        Ok(())
    })?;
    audit.sync_blocking();
    Ok((durable, enqueue))
}

fn timed<T>(
    inputs: &[T],
    mut operation: impl FnMut(&T) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(inputs.len());
    for input in inputs {
        let start = Instant::now();
        operation(input)?;
        times.push(start.elapsed());
    }
    Ok(times)
}

fn measured(operation: &'static str, mut times: Vec<Duration>) -> Measured {
    times.sort_unstable();
    // Nearest rank: the smallest sample with at least per_mille/1000 of
    // all samples at or below it.
    let at = |per_mille: usize| {
        let rank = (per_mille * times.len())
            .div_ceil(1000)
            .clamp(1, times.len());
        times[rank - 1].as_secs_f64() * 1e6
    };
    Measured {
        operation,
        samples: times.len(),
        p50_us: at(500),
        p99_us: at(990),
        max_us: times.last().map_or(0.0, |t| t.as_secs_f64() * 1e6),
    }
}
