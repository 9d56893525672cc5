//! The stored layout: one sled value per written batch (a JSON array under
//! its first record's seq), and every kind of tampering inside and across
//! such values named by seq.

use super::{
    AuditEvent, AuditLog, AuditRecord, HEAD_KEY, batches, event, record_mut, remove_record,
    swap_records, tamper, temp_db,
};
use crate::audit::{now_unix_ms, verify::Broken};

/// Batches of [`SIZES`] records: keys 1, 4, 14, 15; records 1..=20.
const SIZES: [u64; 4] = [3, 10, 1, 6];

/// A log written as batches of `sizes` records, straight through the
/// chain (the writer thread's batches depend on timing).
fn batched_log(sizes: &[u64]) -> (sled::Db, AuditLog) {
    let db = temp_db();
    let log = AuditLog::open(&db).expect("audit log");
    let mut n = 0;
    for &size in sizes {
        let events: Vec<(u64, AuditEvent)> = (0..size)
            .map(|_| {
                n += 1;
                (now_unix_ms(), event(n))
            })
            .collect();
        let written = log.chain.append(events).expect("append");
        assert_eq!(u64::try_from(written.len()).unwrap(), size);
    }
    (db, log)
}

fn broken_at(log: &AuditLog, seq: u64, problem: &str) -> Broken {
    let broken = log.verify().expect_err("tampered");
    assert_eq!(broken.seq, seq, "{broken}");
    assert!(broken.problem.contains(problem), "{broken}");
    broken
}

#[test]
fn a_batch_is_one_value_and_verifies() {
    let (db, log) = batched_log(&[1000, 24, 1]);
    let tree = db.open_tree("audit").unwrap();
    let stored = batches(&tree);
    let keys: Vec<u64> = stored.iter().map(|(first, _)| *first).collect();
    assert_eq!(
        keys,
        [1, 1001, 1025],
        "one value per batch, keyed by its first seq"
    );
    assert_eq!(stored[0].1.len(), 1000);
    assert_eq!(tree.len(), 4, "three batches and the head");
    assert_eq!(log.verify().expect("intact").records, 1025);
    let mut seen = Vec::new();
    log.export(0, |r| {
        seen.push(r.seq);
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, (1..=1025).collect::<Vec<_>>(), "export flattens");
}

#[test]
fn an_altered_record_inside_a_batch_is_named() {
    let (db, log) = batched_log(&SIZES);
    tamper(&db, |all| {
        record_mut(all, 7).event.path = Some("/elsewhere".into());
    });
    broken_at(&log, 7, "altered");
}

#[test]
fn a_rehashed_record_inside_a_batch_breaks_the_next_link() {
    let (db, log) = batched_log(&SIZES);
    tamper(&db, |all| {
        let record = record_mut(all, 7);
        record.event.reason = Some("nothing to see".into());
        record.hash = record.computed_hash();
    });
    broken_at(&log, 8, "prev_hash");
}

#[test]
fn a_record_removed_from_inside_a_batch_is_named() {
    let (db, log) = batched_log(&SIZES);
    tamper(&db, |all| remove_record(all, 7));
    let broken = broken_at(&log, 8, "removed");
    assert!(broken.problem.contains("7..=7"), "{broken}");
}

#[test]
fn a_batch_s_first_record_removed_is_named_with_or_without_a_new_key() {
    let (db, log) = batched_log(&SIZES);
    tamper(&db, |all| remove_record(all, 4));
    broken_at(&log, 5, "removed");

    let (db, log) = batched_log(&SIZES);
    tamper(&db, |all| {
        remove_record(all, 4);
        all[1].0 = 5;
    });
    broken_at(&log, 5, "removed");
}

#[test]
fn a_whole_batch_removed_is_named() {
    let (db, log) = batched_log(&SIZES);
    tamper(&db, |all| {
        all.remove(1);
    });
    let broken = broken_at(&log, 14, "removed");
    assert!(broken.problem.contains("4..=13"), "{broken}");
}

#[test]
fn records_swapped_inside_a_batch_are_named() {
    let (db, log) = batched_log(&SIZES);
    tamper(&db, |all| swap_records(all, 6, 7));
    broken_at(&log, 6, "reordered");
}

#[test]
fn records_swapped_across_batches_are_named() {
    let (db, log) = batched_log(&SIZES);
    // The last of the first batch and the first of the second.
    tamper(&db, |all| swap_records(all, 3, 4));
    broken_at(&log, 3, "reordered");

    let (db, log) = batched_log(&SIZES);
    tamper(&db, |all| swap_records(all, 9, 17));
    broken_at(&log, 9, "reordered");
}

#[test]
fn a_batch_under_another_key_is_named() {
    let (db, log) = batched_log(&SIZES);
    // Still in order, but not where its first record belongs.
    tamper(&db, |all| all[3].0 = 16);
    broken_at(&log, 15, "reordered");

    let (db, log) = batched_log(&SIZES);
    // Moved before the batch it follows.
    tamper(&db, |all| all[2].0 = 2);
    broken_at(&log, 4, "reordered");
}

#[test]
fn a_cut_off_end_is_named() {
    let (db, log) = batched_log(&SIZES);
    tamper(&db, |all| remove_record(all, 20));
    broken_at(&log, 20, "removed");

    let (db, log) = batched_log(&SIZES);
    tamper(&db, |all| {
        all.pop();
    });
    broken_at(&log, 15, "removed");
}

#[test]
fn a_record_added_past_the_head_is_named() {
    let (db, log) = batched_log(&SIZES);
    tamper(&db, |all| {
        let last = all[3].1.last().unwrap().head();
        let extra = AuditRecord::chain(&last, now_unix_ms(), event(21));
        all[3].1.push(extra);
    });
    broken_at(&log, 21, "added");
}

#[test]
fn an_unreadable_batch_names_its_key() {
    let (db, log) = batched_log(&SIZES);
    let tree = db.open_tree("audit").unwrap();
    tree.insert(4u64.to_be_bytes(), b"[{\"seq\": 4".as_slice())
        .unwrap();
    broken_at(&log, 4, "unreadable");
    let exported = log.export(0, |_| Ok(()));
    assert!(exported.is_err(), "export stops at the unreadable batch");
}

#[test]
fn a_log_of_lone_records_still_verifies() {
    // The layout before batches: one record per key.
    let (db, log) = batched_log(&SIZES);
    let tree = db.open_tree("audit").unwrap();
    let records: Vec<AuditRecord> = batches(&tree).into_iter().flat_map(|(_, r)| r).collect();
    for key in tree.range(..HEAD_KEY).keys() {
        tree.remove(key.unwrap()).unwrap();
    }
    for record in &records {
        tree.insert(record.key(), serde_json::to_vec(record).unwrap())
            .unwrap();
    }
    assert_eq!(log.verify().expect("intact").records, 20);
    let appended = log.record_durable_blocking(event(21)).unwrap();
    assert_eq!(appended.seq, 21);
    assert_eq!(log.verify().expect("intact").records, 21);
    tamper_lone(&tree, 9);
    broken_at(&log, 9, "altered");
}

fn tamper_lone(tree: &sled::Tree, seq: u64) {
    let mut record: AuditRecord =
        serde_json::from_slice(&tree.get(seq.to_be_bytes()).unwrap().unwrap()).unwrap();
    record.event.host = Some("elsewhere.example".into());
    tree.insert(seq.to_be_bytes(), serde_json::to_vec(&record).unwrap())
        .unwrap();
}
