//! One audit record and its place in the chain: `hash` is the SHA-256 of
//! the previous record's hash followed by this record's canonical JSON
//! (every field but `hash`, in declaration order, absent ones as null).

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{AuditEvent, AuditKind};

/// The `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Where the writer keeps the last record's seq and hash, in the same
/// tree (so it moves in the same batch). Batch keys are 8 bytes.
pub const HEAD_KEY: &[u8] = b"\xffhead";

/// An event as stored: its place in the chain around it. The event's
/// fields sit at the top level of the JSON, between `time_unix_ms` and
/// `prev_hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    pub time_unix_ms: u64,
    #[serde(flatten)]
    pub event: AuditEvent,
    pub prev_hash: String,
    pub hash: String,
}

/// Where the last prune's checkpoint is kept: after [`HEAD_KEY`] in key
/// order, so that the record range `..HEAD_KEY` leaves both out.
pub const CHECKPOINT_KEY: &[u8] = b"\xffpruned";

/// Bytes reserved for a record's JSON: a request-path record is about
/// 350 bytes of it.
pub const CANONICAL_CAPACITY: usize = 512;

/// The last record written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

impl AuditRecord {
    /// The record after `prev` for `event`, hashed.
    #[must_use]
    pub fn chain(prev: &Head, time_unix_ms: u64, event: AuditEvent) -> Self {
        let mut record = Self {
            seq: prev.seq + 1,
            time_unix_ms,
            event,
            prev_hash: prev.hash.clone(),
            hash: String::new(),
        };
        record.hash = record.computed_hash();
        record
    }

    /// The hash this record's content and `prev_hash` call for.
    #[must_use]
    pub fn computed_hash(&self) -> String {
        // Big enough for a typical record, so it is not regrown.
        let mut canonical = Vec::with_capacity(CANONICAL_CAPACITY);
        // Writing into a Vec fails only on a Serialize impl error; the
        // derived ones here have none.
        let _ = serde_json::to_writer(&mut canonical, &Canonical::of(self));
        let mut hasher = Sha256::new();
        hasher.update(self.prev_hash.as_bytes());
        hasher.update(&canonical);
        crate::hex::encode(&hasher.finalize())
    }

    /// The key of a batch that starts with this record.
    #[must_use]
    pub fn key(&self) -> [u8; 8] {
        self.seq.to_be_bytes()
    }

    #[must_use]
    pub fn head(&self) -> Head {
        Head {
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }
}

/// A record's canonical JSON: every field but `hash`, keys in sorted
/// order (so the form does not depend on the declaration order above),
/// absent ones as null. Serialised straight from references: the writer
/// hashes every request-path record, and building a map first cost more
/// than the hash.
#[derive(Serialize)]
struct Canonical<'a> {
    agent: &'a Option<String>,
    approval_id: &'a Option<String>,
    by: &'a Option<String>,
    count: Option<u64>,
    host: &'a Option<String>,
    kind: AuditKind,
    method: &'a Option<String>,
    path: &'a Option<String>,
    position: &'a Option<String>,
    prev_hash: &'a str,
    reason: &'a Option<String>,
    request_id: &'a Option<String>,
    rule: &'a Option<String>,
    secret: &'a Option<String>,
    seq: u64,
    time_unix_ms: u64,
    via: &'a Option<String>,
}

impl<'a> Canonical<'a> {
    fn of(record: &'a AuditRecord) -> Self {
        Self {
            agent: &record.event.agent,
            approval_id: &record.event.approval_id,
            by: &record.event.by,
            count: record.event.count,
            host: &record.event.host,
            kind: record.event.kind,
            method: &record.event.method,
            path: &record.event.path,
            position: &record.event.position,
            prev_hash: &record.prev_hash,
            reason: &record.event.reason,
            request_id: &record.event.request_id,
            rule: &record.event.rule,
            secret: &record.event.secret,
            seq: record.seq,
            time_unix_ms: record.time_unix_ms,
            via: &record.event.via,
        }
    }
}

impl Head {
    #[must_use]
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The canonical form is the record's JSON with its keys sorted and
    /// `hash` left out, whatever the field order of `AuditRecord`.
    #[test]
    fn canonical_form_is_the_sorted_json_without_the_hash() {
        let mut event = AuditEvent::new(AuditKind::Approved);
        event.agent = Some("a\"gent".into());
        event.approval_id = Some("0123".into());
        event.by = Some("root".into());
        event.count = Some(7);
        let record = AuditRecord::chain(&Head::genesis(), 1_700_000_000_000, event);
        let sorted: std::collections::BTreeMap<String, serde_json::Value> =
            match serde_json::to_value(&record).unwrap() {
                serde_json::Value::Object(fields) => {
                    fields.into_iter().filter(|(k, _)| k != "hash").collect()
                }
                other => panic!("not an object: {other}"),
            };
        assert_eq!(
            serde_json::to_vec(&Canonical::of(&record)).unwrap(),
            serde_json::to_vec(&sorted).unwrap()
        );
    }
}
