//! The end of the chain: whoever appends (the writer thread with a batch
//! of request events, or a caller recording a decision) takes the head,
//! chains the records onto it and writes them, as one value (a JSON array
//! under the first record's seq), and the new head in one sled batch, so
//! the log and its head never disagree. One sled insert per batch, not per
//! record: each insert copies the leaf page it lands in.

use std::sync::{Mutex, PoisonError};

use super::{
    AuditError, AuditEvent,
    record::{AuditRecord, CANONICAL_CAPACITY, HEAD_KEY, Head},
};

pub struct Chain {
    db: sled::Db,
    tree: sled::Tree,
    head: Mutex<Head>,
}

impl Chain {
    pub fn open(db: &sled::Db, tree: sled::Tree) -> Result<Self, AuditError> {
        let head = read_head(&tree)?;
        Ok(Self {
            db: db.clone(),
            tree,
            head: Mutex::new(head),
        })
    }

    /// Chains and writes `events` (with their times); not yet flushed.
    pub fn append(
        &self,
        events: impl IntoIterator<Item = (u64, AuditEvent)>,
    ) -> Result<Vec<AuditRecord>, AuditError> {
        let mut head = self.head.lock().unwrap_or_else(PoisonError::into_inner);
        let mut records = Vec::new();
        let mut last = head.clone();
        for (time_unix_ms, event) in events {
            let record = AuditRecord::chain(&last, time_unix_ms, event);
            last = record.head();
            records.push(record);
        }
        let Some(first) = records.first() else {
            return Ok(records);
        };
        let write_error = |e: serde_json::Error| AuditError::Write(e.to_string());
        let mut batch = sled::Batch::default();
        // Sized up front: a batch can be a thousand records, and growing
        // the buffer by doubling copied it over and over.
        let mut value = Vec::with_capacity(records.len() * (CANONICAL_CAPACITY + 128));
        serde_json::to_writer(&mut value, &records).map_err(write_error)?;
        batch.insert(&first.key(), value);
        batch.insert(HEAD_KEY, serde_json::to_vec(&last).map_err(write_error)?);
        self.tree.apply_batch(batch)?;
        *head = last;
        Ok(records)
    }

    /// Makes everything written to the database so far durable.
    pub fn flush(&self) -> Result<(), AuditError> {
        self.db.flush()?;
        Ok(())
    }
}

/// The head as stored; the genesis head for an empty log.
pub fn read_head(tree: &sled::Tree) -> Result<Head, AuditError> {
    if let Some(bytes) = tree.get(HEAD_KEY)? {
        return serde_json::from_slice(&bytes).map_err(|e| AuditError::Corrupt {
            seq: 0,
            message: format!("the head: {e}"),
        });
    }
    Ok(Head::genesis())
}
