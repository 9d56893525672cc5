//! Dropping old records, so that a log of every request does not fill the
//! disk. Whole batches go, oldest first, as long as all their records are
//! older than the cutoff; the last record dropped becomes the checkpoint
//! (its seq and hash, under [`CHECKPOINT_KEY`]) that verification starts
//! from instead of the genesis. Removal and checkpoint are one sled batch.
//! The prune itself is then recorded in the chain (see `AuditLog::prune`),
//! so a checkpoint that no record accounts for shows in an export.

use serde::{Deserialize, Serialize};

use super::{
    AuditError,
    record::{CHECKPOINT_KEY, HEAD_KEY, Head},
    verify::{key_seq, parse_batch},
};

/// What a prune removed: how many records, and the checkpoint it left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pruned {
    pub records: u64,
    pub checkpoint: Head,
}

/// Removes every batch (from the oldest on) whose records are all older
/// than `before_unix_ms`; stops at the first that is not. `None` if there
/// was nothing to remove.
pub fn prune(tree: &sled::Tree, before_unix_ms: u64) -> Result<Option<Pruned>, AuditError> {
    let mut removal = sled::Batch::default();
    let mut checkpoint = None;
    let mut records = 0;
    for entry in tree.range(..HEAD_KEY) {
        let (key, value) = entry?;
        let seq = key_seq(&key).unwrap_or(0);
        let batch = parse_batch(&value).map_err(|e| AuditError::Corrupt {
            seq,
            message: format!("not pruned past an unreadable batch: {e}"),
        })?;
        let Some(last) = batch.last() else { break };
        if batch
            .iter()
            .any(|record| record.time_unix_ms >= before_unix_ms)
        {
            break;
        }
        records += batch.len() as u64;
        checkpoint = Some(last.head());
        removal.remove(key);
    }
    let Some(checkpoint) = checkpoint else {
        return Ok(None);
    };
    let value = serde_json::to_vec(&checkpoint).map_err(|e| AuditError::Write(e.to_string()))?;
    removal.insert(CHECKPOINT_KEY, value);
    tree.apply_batch(removal)?;
    Ok(Some(Pruned {
        records,
        checkpoint,
    }))
}

/// Where the chain starts: the checkpoint of the last prune, or the
/// genesis.
pub fn read_checkpoint(tree: &sled::Tree) -> Result<Head, AuditError> {
    match tree.get(CHECKPOINT_KEY)? {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| AuditError::Corrupt {
            seq: 0,
            message: format!("the prune checkpoint: {e}"),
        }),
        None => Ok(Head::genesis()),
    }
}
