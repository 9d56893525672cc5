use super::super::{
    AuditKind, AuditLog,
    record::{AuditRecord, CHECKPOINT_KEY},
};
use super::{event, temp_db};

/// A log of two parts: records 1–5 (each durable, so in batches of their
/// own), then a time, then records 6–10. Returns the time between.
fn two_parts() -> (sled::Db, AuditLog, u64) {
    let db = temp_db();
    let log = AuditLog::open(&db).unwrap();
    for n in 1..=5 {
        log.record_durable_blocking(event(n)).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(5));
    let between = super::super::now_unix_ms();
    std::thread::sleep(std::time::Duration::from_millis(5));
    for n in 6..=9 {
        log.record(event(n));
    }
    log.sync_blocking();
    log.record_durable_blocking(event(10)).unwrap();
    (db, log, between)
}

fn exported(log: &AuditLog) -> Vec<AuditRecord> {
    let mut all = Vec::new();
    log.export(0, |r| {
        all.push(r.clone());
        Ok(())
    })
    .unwrap();
    all
}

#[test]
fn old_records_go_and_the_chain_verifies_from_the_checkpoint() {
    let (_db, log, between) = two_parts();
    let pruned = log.prune(between, "root", "cli").unwrap().expect("pruned");
    assert_eq!(pruned.records, 5);
    assert_eq!(pruned.checkpoint.seq, 5);

    let intact = log.verify().expect("intact after a prune");
    assert_eq!(intact.pruned, 5);
    assert_eq!(intact.records, 11, "10 records and the prune's own");
    let all = exported(&log);
    let seqs: Vec<u64> = all.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (6..=11).collect::<Vec<_>>());
    assert_eq!(
        all[0].prev_hash, pruned.checkpoint.hash,
        "the chain goes on"
    );
    let own = all.last().unwrap();
    assert_eq!(own.event.kind, AuditKind::Pruned);
    assert_eq!(own.event.count, Some(5));
    assert_eq!(own.event.by.as_deref(), Some("root"));
    assert!(
        own.event
            .reason
            .as_deref()
            .is_some_and(|r| r.contains(&pruned.checkpoint.hash)),
        "{own:?}"
    );

    assert!(
        log.prune(between, "root", "cli").unwrap().is_none(),
        "nothing older is left"
    );
    // Later records can go too, the latest included.
    let all_gone = log.prune(u64::MAX, "root", "cli").unwrap().expect("pruned");
    assert_eq!(all_gone.records, 6);
    let intact = log.verify().expect("intact");
    assert_eq!((intact.pruned, intact.records), (11, 12));
}

#[test]
fn a_removed_or_changed_checkpoint_breaks_the_chain() {
    let (db, log, between) = two_parts();
    log.prune(between, "root", "cli").unwrap().expect("pruned");
    let tree = db.open_tree("audit").unwrap();
    let checkpoint = tree.get(CHECKPOINT_KEY).unwrap().expect("a checkpoint");

    tree.remove(CHECKPOINT_KEY).unwrap();
    let broken = log
        .verify()
        .expect_err("no checkpoint: the start is missing");
    assert!(broken.problem.contains("removed"), "{broken}");

    let mut forged: serde_json::Value = serde_json::from_slice(&checkpoint).unwrap();
    forged["hash"] = "ab".repeat(32).into();
    tree.insert(CHECKPOINT_KEY, serde_json::to_vec(&forged).unwrap())
        .unwrap();
    let broken = log.verify().expect_err("a forged checkpoint");
    assert_eq!(broken.seq, 6, "{broken}");
}

#[test]
fn nothing_goes_unless_older_than_the_cutoff() {
    let db = temp_db();
    let log = AuditLog::open(&db).unwrap();
    log.record_durable_blocking(event(1)).unwrap();
    let cutoff = super::super::now_unix_ms() + 60_000;
    assert_eq!(
        log.prune(0, "root", "cli").unwrap(),
        None,
        "nothing is older than the epoch"
    );
    let pruned = log.prune(cutoff, "root", "cli").unwrap().expect("pruned");
    assert_eq!(pruned.records, 1);
    assert!(log.verify().is_ok());
}
