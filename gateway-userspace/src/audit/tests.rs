mod batches;
mod prune;

use super::{
    AuditEvent, AuditKind, AuditLog,
    record::{AuditRecord, HEAD_KEY},
};

fn temp_db() -> sled::Db {
    sled::Config::new()
        .temporary(true)
        .open()
        .expect("a temporary sled db")
}

fn event(n: u64) -> AuditEvent {
    let mut event = AuditEvent::new(AuditKind::Allowed);
    event.agent = Some("agent".into());
    event.path = Some(format!("/item/{n}"));
    event
}

fn log_with(records: u64) -> (sled::Db, AuditLog) {
    let db = temp_db();
    let log = AuditLog::open(&db).expect("audit log");
    for n in 1..records {
        log.record(event(n));
    }
    // Queued events are chained by the writer; a durable one at once.
    log.sync_blocking();
    let last = log
        .record_durable_blocking(event(records))
        .expect("durable");
    assert_eq!(last.seq, records, "records are numbered from 1 in order");
    (db, log)
}

/// The stored batches in key order: first seq and records.
type Batches = Vec<(u64, Vec<AuditRecord>)>;

fn batches(tree: &sled::Tree) -> Batches {
    tree.range(..HEAD_KEY)
        .map(|entry| {
            let (key, value) = entry.unwrap();
            let first = u64::from_be_bytes(key.as_ref().try_into().unwrap());
            (first, serde_json::from_slice(&value).unwrap())
        })
        .collect()
}

/// Rewrites the stored batches as `change` leaves them, through sled, as
/// someone holding the database could (the head is left alone).
fn tamper(db: &sled::Db, change: impl FnOnce(&mut Batches)) {
    let tree = db.open_tree("audit").unwrap();
    let mut all = batches(&tree);
    change(&mut all);
    for (first, _) in batches(&tree) {
        tree.remove(first.to_be_bytes()).unwrap();
    }
    for (first, records) in &all {
        tree.insert(first.to_be_bytes(), serde_json::to_vec(records).unwrap())
            .unwrap();
    }
}

/// Where record `seq` is: its batch's index and its index in the batch.
fn find(all: &Batches, seq: u64) -> (usize, usize) {
    all.iter()
        .enumerate()
        .find_map(|(b, (_, records))| records.iter().position(|r| r.seq == seq).map(|i| (b, i)))
        .unwrap_or_else(|| panic!("no record {seq}"))
}

fn record_mut(all: &mut Batches, seq: u64) -> &mut AuditRecord {
    let (b, i) = find(all, seq);
    &mut all[b].1[i]
}

/// Takes record `seq` out of its batch; an emptied batch goes too.
fn remove_record(all: &mut Batches, seq: u64) {
    let (b, i) = find(all, seq);
    all[b].1.remove(i);
    if all[b].1.is_empty() {
        all.remove(b);
    }
}

/// Swaps records `a` and `b` where they are stored (same batch or not).
fn swap_records(all: &mut Batches, a: u64, b: u64) {
    let ((ab, ai), (bb, bi)) = (find(all, a), find(all, b));
    let first = all[ab].1[ai].clone();
    all[ab].1[ai] = std::mem::replace(&mut all[bb].1[bi], first);
}

#[test]
fn an_untouched_log_verifies() {
    let (_db, log) = log_with(20);
    let intact = log.verify().expect("intact");
    assert_eq!(intact.records, 20);
    let mut seen = Vec::new();
    log.export(0, |r| {
        seen.push(r.seq);
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, (1..=20).collect::<Vec<_>>());
}

#[test]
fn an_altered_record_is_named() {
    let (db, log) = log_with(10);
    tamper(&db, |all| {
        record_mut(all, 4).event.path = Some("/elsewhere".into());
    });
    let broken = log.verify().expect_err("altered");
    assert_eq!(broken.seq, 4, "{broken}");
    assert!(broken.problem.contains("altered"), "{broken}");
}

#[test]
fn a_rehashed_altered_record_breaks_the_next_link() {
    let (db, log) = log_with(10);
    tamper(&db, |all| {
        let record = record_mut(all, 4);
        record.event.path = Some("/elsewhere".into());
        record.hash = record.computed_hash();
    });
    let broken = log.verify().expect_err("altered and rehashed");
    assert_eq!(broken.seq, 5, "{broken}");
    assert!(broken.problem.contains("prev_hash"), "{broken}");
}

#[test]
fn a_removed_record_is_named() {
    let (db, log) = log_with(10);
    tamper(&db, |all| remove_record(all, 6));
    let broken = log.verify().expect_err("removed");
    assert_eq!(broken.seq, 7, "{broken}");
    assert!(broken.problem.contains("removed"), "{broken}");
}

#[test]
fn a_removed_last_record_is_named() {
    let (db, log) = log_with(10);
    tamper(&db, |all| remove_record(all, 10));
    let broken = log.verify().expect_err("truncated");
    assert!(broken.problem.contains("removed"), "{broken}");
}

#[test]
fn reordered_records_are_named() {
    let (db, log) = log_with(10);
    tamper(&db, |all| swap_records(all, 3, 4));
    let broken = log.verify().expect_err("reordered");
    assert_eq!(broken.seq, 3, "{broken}");
    assert!(broken.problem.contains("reordered"), "{broken}");
}

#[test]
fn the_chain_continues_after_reopening() {
    let dir = std::env::temp_dir().join(format!("gateway-audit-reopen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    {
        let db = sled::open(&dir).unwrap();
        let log = AuditLog::open(&db).unwrap();
        log.record_durable_blocking(event(1)).unwrap();
        log.record_durable_blocking(event(2)).unwrap();
    }
    // The writer thread lets go of the db (its file lock) once it sees
    // the last handle dropped: wait for that, not a fixed time.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let db = loop {
        match sled::open(&dir) {
            Ok(db) => break db,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(error) => panic!("the database stayed locked: {error}"),
        }
    };
    let log = AuditLog::open(&db).unwrap();
    let third = log.record_durable_blocking(event(3)).unwrap();
    assert_eq!(third.seq, 3);
    assert_eq!(log.verify().unwrap().records, 3);
    drop((log, db));
    let _ = std::fs::remove_dir_all(&dir);
}
