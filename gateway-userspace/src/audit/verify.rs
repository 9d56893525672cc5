//! Checking the chain, and reading the log out. A record whose content
//! does not match its hash was altered; a record that does not name the
//! one before it, a gap in the numbers, or a record under another
//! number's key means records were removed or reordered; a last record
//! short of the stored head means the end was cut off.

use serde::Serialize;

use super::{
    AuditError,
    chain::read_head,
    record::{AuditRecord, GENESIS, HEAD_KEY, Head},
};

/// An intact chain: how many records, and the last one's hash (keep it
/// elsewhere to detect a rewrite of the whole log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Intact {
    pub records: u64,
    pub head_hash: String,
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
    let broken = |seq: u64, problem: String| Broken { seq, problem };
    // The head first: records written while this runs come after it.
    let head = read_head(tree).map_err(|e| broken(0, e.to_string()))?;
    let mut prev = Head::genesis();
    for entry in tree.range(..HEAD_KEY) {
        let (key, value) = entry.map_err(|e| broken(prev.seq + 1, e.to_string()))?;
        let position = key_seq(&key).ok_or_else(|| {
            broken(
                prev.seq + 1,
                format!("a stray key {key:?} among the records"),
            )
        })?;
        if position > head.seq {
            break;
        }
        let record: AuditRecord = serde_json::from_slice(&value)
            .map_err(|e| broken(position, format!("unreadable record: {e}")))?;
        if record.seq != position {
            return Err(broken(
                position,
                format!(
                    "the record stored at seq {position} says it is seq {}: records were reordered or moved",
                    record.seq
                ),
            ));
        }
        if record.computed_hash() != record.hash {
            return Err(broken(
                position,
                "altered: the record's content does not match its hash".into(),
            ));
        }
        if position != prev.seq + 1 {
            return Err(broken(
                position,
                format!(
                    "removed: seq jumps from {} to {position}; record(s) {}..={} are missing",
                    prev.seq,
                    prev.seq + 1,
                    position - 1
                ),
            ));
        }
        if record.prev_hash != prev.hash {
            return Err(broken(
                position,
                format!(
                    "the record does not follow record {}: its prev_hash differs (a record was replaced, removed or reordered)",
                    prev.seq
                ),
            ));
        }
        prev = record.head();
    }
    if prev.seq != head.seq {
        return Err(broken(
            prev.seq + 1,
            format!(
                "removed: the log ends at seq {} but its head says {}",
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
    })
}

pub fn export(
    tree: &sled::Tree,
    since_unix_ms: u64,
    mut each: impl FnMut(&AuditRecord) -> std::io::Result<()>,
) -> Result<(), ExportError> {
    for entry in tree.range(..HEAD_KEY) {
        let (key, value) = entry.map_err(AuditError::from)?;
        let seq = key_seq(&key).unwrap_or(0);
        let record: AuditRecord =
            serde_json::from_slice(&value).map_err(|e| AuditError::Corrupt {
                seq,
                message: e.to_string(),
            })?;
        if record.time_unix_ms >= since_unix_ms {
            each(&record)?;
        }
    }
    Ok(())
}

fn key_seq(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}
