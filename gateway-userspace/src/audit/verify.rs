//! Checking the chain, and reading the log out. The tree holds batches:
//! under the big-endian seq of a batch's first record, the batch's records
//! as one JSON array. Both walk the batches in key order and each batch's
//! records in array order. A record whose content does not match its hash
//! was altered; a record out of sequence whose missing seq is stored later,
//! or a batch stored under another seq than its first record's, was
//! reordered or moved; a gap in the numbers, a record that does not name
//! the one before it, or a last record short of the stored head means
//! records were removed.

use std::ops::Range;

use serde::Serialize;

use super::{
    AuditError,
    chain::read_head,
    prune::read_checkpoint,
    record::{AuditRecord, GENESIS, HEAD_KEY, Head},
};

/// An intact chain: how many records, and the last one's hash (keep it
/// elsewhere to detect a rewrite of the whole log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Intact {
    /// The last record's seq: how many were ever written.
    pub records: u64,
    pub head_hash: String,
    /// Records before this seq were pruned (0: none).
    #[serde(default)]
    pub pruned: u64,
}

/// The first place the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, thiserror::Error)]
#[error("audit log broken at seq {seq}: {problem}")]
pub struct Broken {
    pub seq: u64,
    pub problem: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("writing the export: {0}")]
    Write(#[from] std::io::Error),
}

pub fn verify(tree: &sled::Tree) -> Result<Intact, Broken> {
    // The head first: batches written while this runs come after it.
    let head = read_head(tree).map_err(|e| broken(0, e.to_string()))?;
    // After a prune, the chain goes on from its checkpoint.
    let checkpoint = read_checkpoint(tree).map_err(|e| broken(0, e.to_string()))?;
    let pruned = checkpoint.seq;
    let mut prev = checkpoint;
    for entry in tree.range(..HEAD_KEY) {
        let (key, value) = entry.map_err(|e| broken(prev.seq + 1, e.to_string()))?;
        let first = key_seq(&key).ok_or_else(|| {
            broken(
                prev.seq + 1,
                format!("a stray key {key:?} among the records"),
            )
        })?;
        if first > head.seq {
            break;
        }
        let batch =
            parse_batch(&value).map_err(|e| broken(first, format!("unreadable record(s): {e}")))?;
        let Some(opening) = batch.first() else {
            return Err(broken(
                first,
                format!("removed: the batch stored at seq {first} holds no records"),
            ));
        };
        check_sequence(tree, &prev, opening)?;
        if opening.seq != first {
            return Err(broken(
                opening.seq,
                format!(
                    "the batch starting with seq {} is stored at seq {first}: records were reordered or moved",
                    opening.seq
                ),
            ));
        }
        for (index, record) in batch.iter().enumerate() {
            if index > 0 {
                check_sequence(tree, &prev, record)?;
            }
            check_link(&prev, record)?;
            prev = record.head();
        }
    }
    if prev.seq < head.seq {
        return Err(broken(
            prev.seq + 1,
            format!(
                "removed: the log ends at seq {} but its head says {}",
                prev.seq, head.seq
            ),
        ));
    }
    if prev.seq > head.seq {
        return Err(broken(
            head.seq + 1,
            format!(
                "the log goes on to seq {} but its head says {}: records were added",
                prev.seq, head.seq
            ),
        ));
    }
    if prev.hash != head.hash && head.seq != 0 {
        return Err(broken(
            head.seq,
            "the last record's hash differs from the stored head: the last record was replaced"
                .into(),
        ));
    }
    Ok(Intact {
        records: prev.seq,
        head_hash: if prev.seq == 0 {
            GENESIS.to_owned()
        } else {
            prev.hash
        },
        pruned,
    })
}

fn broken(seq: u64, problem: String) -> Broken {
    Broken { seq, problem }
}

/// `record` must be the one after `prev`. If it is further on, the
/// missing ones were removed, unless one of them is stored later (moved).
fn check_sequence(tree: &sled::Tree, prev: &Head, record: &AuditRecord) -> Result<(), Broken> {
    let expected = prev.seq + 1;
    if record.seq == expected {
        return Ok(());
    }
    if record.seq > expected && !stored_anywhere(tree, expected..record.seq) {
        return Err(broken(
            record.seq,
            format!(
                "removed: seq jumps from {} to {}; record(s) {expected}..={} are missing",
                prev.seq,
                record.seq,
                record.seq - 1
            ),
        ));
    }
    Err(broken(
        expected,
        format!(
            "the record stored at seq {expected} says it is seq {}: records were reordered or moved",
            record.seq
        ),
    ))
}

/// `record` (already in sequence) matches its hash and names `prev`'s.
fn check_link(prev: &Head, record: &AuditRecord) -> Result<(), Broken> {
    if record.computed_hash() != record.hash {
        return Err(broken(
            record.seq,
            "altered: the record's content does not match its hash".into(),
        ));
    }
    if record.prev_hash != prev.hash {
        return Err(broken(
            record.seq,
            format!(
                "the record does not follow record {}: its prev_hash differs (a record was replaced, removed or reordered)",
                prev.seq
            ),
        ));
    }
    Ok(())
}

/// Whether any readable batch holds a record numbered in `seqs` (only
/// asked once the chain is already broken).
fn stored_anywhere(tree: &sled::Tree, seqs: Range<u64>) -> bool {
    tree.range(..HEAD_KEY)
        .filter_map(Result::ok)
        .filter_map(|(_, value)| parse_batch(&value).ok())
        .flatten()
        .any(|record| seqs.contains(&record.seq))
}

pub fn export(
    tree: &sled::Tree,
    since_unix_ms: u64,
    mut each: impl FnMut(&AuditRecord) -> std::io::Result<()>,
) -> Result<(), ExportError> {
    for entry in tree.range(..HEAD_KEY) {
        let (key, value) = entry.map_err(AuditError::from)?;
        let seq = key_seq(&key).unwrap_or(0);
        let batch = parse_batch(&value).map_err(|e| AuditError::Corrupt {
            seq,
            message: e.to_string(),
        })?;
        for record in batch.iter().filter(|r| r.time_unix_ms >= since_unix_ms) {
            each(record)?;
        }
    }
    Ok(())
}

/// A batch's records; a lone record (a log written before batches were
/// stored as one value) is a batch of one.
pub(super) fn parse_batch(value: &[u8]) -> Result<Vec<AuditRecord>, serde_json::Error> {
    if value.first() == Some(&b'[') {
        serde_json::from_slice(value)
    } else {
        serde_json::from_slice(value).map(|record| vec![record])
    }
}

pub(super) fn key_seq(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}
