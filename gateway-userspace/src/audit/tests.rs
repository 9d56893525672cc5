use super::{AuditEvent, AuditKind, AuditLog, record::AuditRecord};

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

fn get(tree: &sled::Tree, seq: u64) -> AuditRecord {
    serde_json::from_slice(&tree.get(seq.to_be_bytes()).unwrap().unwrap()).unwrap()
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
    let tree = db.open_tree("audit").unwrap();
    let mut record = get(&tree, 4);
    record.path = Some("/elsewhere".into());
    tree.insert(4u64.to_be_bytes(), serde_json::to_vec(&record).unwrap())
        .unwrap();
    let broken = log.verify().expect_err("altered");
    assert_eq!(broken.seq, 4, "{broken}");
    assert!(broken.problem.contains("altered"), "{broken}");
}

#[test]
fn a_rehashed_altered_record_breaks_the_next_link() {
    let (db, log) = log_with(10);
    let tree = db.open_tree("audit").unwrap();
    let mut record = get(&tree, 4);
    record.path = Some("/elsewhere".into());
    record.hash = record.computed_hash();
    tree.insert(4u64.to_be_bytes(), serde_json::to_vec(&record).unwrap())
        .unwrap();
    let broken = log.verify().expect_err("altered and rehashed");
    assert_eq!(broken.seq, 5, "{broken}");
    assert!(broken.problem.contains("prev_hash"), "{broken}");
}

#[test]
fn a_removed_record_is_named() {
    let (db, log) = log_with(10);
    let tree = db.open_tree("audit").unwrap();
    tree.remove(6u64.to_be_bytes()).unwrap();
    let broken = log.verify().expect_err("removed");
    assert_eq!(broken.seq, 7, "{broken}");
    assert!(broken.problem.contains("removed"), "{broken}");
}

#[test]
fn a_removed_last_record_is_named() {
    let (db, log) = log_with(10);
    let tree = db.open_tree("audit").unwrap();
    tree.remove(10u64.to_be_bytes()).unwrap();
    let broken = log.verify().expect_err("truncated");
    assert!(broken.problem.contains("removed"), "{broken}");
}

#[test]
fn reordered_records_are_named() {
    let (db, log) = log_with(10);
    let tree = db.open_tree("audit").unwrap();
    let (a, b) = (
        tree.get(3u64.to_be_bytes()).unwrap().unwrap(),
        tree.get(4u64.to_be_bytes()).unwrap().unwrap(),
    );
    tree.insert(3u64.to_be_bytes(), b).unwrap();
    tree.insert(4u64.to_be_bytes(), a).unwrap();
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
    // The writer thread lets go of the db when its last handle drops.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let db = sled::open(&dir).unwrap();
    let log = AuditLog::open(&db).unwrap();
    let third = log.record_durable_blocking(event(3)).unwrap();
    assert_eq!(third.seq, 3);
    assert_eq!(log.verify().unwrap().records, 3);
    drop((log, db));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_exfiltration_is_recorded_with_the_secret_name_only() {
    let (_db, log) = log_with(1);
    log.record_exfiltration(
        "agent",
        "evil.example",
        "github_token",
        "header:authorization",
        "r-9",
    );
    log.sync_blocking();
    let mut last = None;
    log.export(0, |r| {
        last = Some(r.clone());
        Ok(())
    })
    .unwrap();
    let record = last.expect("a record");
    assert_eq!(record.kind, AuditKind::ExfiltrationBlocked);
    assert_eq!(record.secret.as_deref(), Some("github_token"));
    assert_eq!(record.position.as_deref(), Some("header:authorization"));
    assert_eq!(record.host.as_deref(), Some("evil.example"));
    assert_eq!(log.verify().unwrap().records, 2);
}
