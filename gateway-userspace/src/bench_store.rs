//! `gateway bench-store` (hidden): per-operation latency of the approvals
//! store and the audit log on the disk holding `--state-dir`, with many
//! approvals pending. `cargo xtask bench approvals` runs it. Prints one
//! JSON object: each operation's p50/p99/max in microseconds.

use std::{path::Path, process::ExitCode, time::Instant};

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
        bail!("{} is not empty: give an empty scratch directory", dir.display());
    }
    let db = state::open_db(dir)?;
    let audit = AuditLog::open(&db)?;
    let settings = ApprovalSettings {
        max_pending_per_agent: usize::MAX,
        ..ApprovalSettings::default()
    };
    let store = ApprovalStore::open(&db, audit.clone(), settings)?;
    let body = vec![b'x'; 512];
    let headers = http::HeaderMap::from_iter([
        (http::header::CONTENT_TYPE, "application/json".parse()?),
        (http::header::AUTHORIZATION, "Bearer secret".parse()?),
    ]);
    let request = |n: usize| {
        NewApproval::new(&RequestSnapshot {
            agent: "bench",
            method: "POST",
            scheme: "https",
            host: "api.example.com",
            port: 443,
            path_and_query: &format!("/items/{n}?x=1"),
            headers: &headers,
            body: &body,
            rule: "bench",
            reason: "benchmark",
            request_id: &format!("bench-{n}"),
        })
    };
    let fill = Instant::now();
    for n in 0..pending {
        store.admit(&request(n)).context("filling the store")?;
    }
    let fill_seconds = fill.elapsed().as_secs_f64();

    let mut create = Vec::with_capacity(samples);
    let mut ids = Vec::with_capacity(samples);
    for n in pending..pending + samples {
        let new = request(n);
        let start = Instant::now();
        let admission = store.admit(&new)?;
        create.push(start.elapsed());
        let Admission::Wait { approval, created: true } = admission else {
            bail!("a new request did not create an approval: {admission:?}");
        };
        ids.push(approval.id);
    }
    let mut decide = Vec::with_capacity(samples);
    for id in &ids {
        let start = Instant::now();
        store.decide(id, Verdict::Approve, "bench", "bench", None)?;
        decide.push(start.elapsed());
    }
    let mut durable = Vec::with_capacity(samples);
    for n in 0..samples {
        let mut event = AuditEvent::new(AuditKind::Approved);
        event.approval_id = Some(format!("{n:016x}"));
        event.by = Some("bench".into());
        event.via = Some("cli".into());
        let start = Instant::now();
        audit.record_durable_blocking(event)?;
        durable.push(start.elapsed());
    }
    let mut enqueue = Vec::with_capacity(samples * 10);
    for n in 0..samples * 10 {
        let mut event = AuditEvent::new(AuditKind::Allowed);
        event.agent = Some("bench".into());
        event.path = Some(format!("/items/{n}"));
        let start = Instant::now();
        audit.record(event);
        enqueue.push(start.elapsed());
    }
    audit.sync_blocking();
    let raw = db.open_tree("bench_raw")?;
    let value = vec![b'v'; 1200];
    let mut baseline = Vec::with_capacity(samples);
    for n in 0..samples {
        let start = Instant::now();
        raw.insert((n as u64).to_be_bytes(), value.as_slice())?;
        db.flush()?;
        baseline.push(start.elapsed());
    }
    let report = Report {
        pending_before: pending,
        fill_seconds,
        operations: vec![
            measured("approval create + flush", create),
            measured("approval decide + flush", decide),
            measured("audit append, durable", durable),
            measured("audit record (request path, enqueue)", enqueue),
            measured("baseline: raw sled insert 1.2 KB + flush", baseline),
        ],
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

fn measured(operation: &'static str, mut times: Vec<std::time::Duration>) -> Measured {
    times.sort_unstable();
    let at = |p: f64| {
        let rank = ((p * times.len() as f64).ceil() as usize).clamp(1, times.len());
        times[rank - 1].as_secs_f64() * 1e6
    };
    Measured {
        operation,
        samples: times.len(),
        p50_us: at(0.5),
        p99_us: at(0.99),
        max_us: times.last().map_or(0.0, |t| t.as_secs_f64() * 1e6),
    }
}
