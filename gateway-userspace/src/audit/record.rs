//! One audit record and its place in the chain: `hash` is the SHA-256 of
//! the previous record's hash followed by this record's canonical JSON
//! (every field but `hash`, in declaration order, absent ones as null).

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{AuditEvent, AuditKind};

/// The `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Where the writer keeps the last record's seq and hash, in the same
/// tree (so it moves in the same batch). Record keys are 8 bytes.
pub const HEAD_KEY: &[u8] = b"\xffhead";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    pub time_unix_ms: u64,
    pub kind: AuditKind,
    pub agent: Option<String>,
    pub method: Option<String>,
    pub host: Option<String>,
    pub path: Option<String>,
    pub rule: Option<String>,
    pub approval_id: Option<String>,
    pub by: Option<String>,
    pub via: Option<String>,
    pub reason: Option<String>,
    pub request_id: Option<String>,
    pub secret: Option<String>,
    pub position: Option<String>,
    pub count: Option<u64>,
    pub prev_hash: String,
    pub hash: String,
}

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
            kind: event.kind,
            agent: event.agent,
            method: event.method,
            host: event.host,
            path: event.path,
            rule: event.rule,
            approval_id: event.approval_id,
            by: event.by,
            via: event.via,
            reason: event.reason,
            request_id: event.request_id,
            secret: event.secret,
            position: event.position,
            count: event.count,
            prev_hash: prev.hash.clone(),
            hash: String::new(),
        };
        record.hash = record.computed_hash();
        record
    }

    /// The hash this record's content and `prev_hash` call for.
    #[must_use]
    pub fn computed_hash(&self) -> String {
        // Sorted keys, whatever serde_json's map type: every field is a
        // scalar, so this is the whole canonical form.
        let unsigned: std::collections::BTreeMap<String, serde_json::Value> =
            match serde_json::to_value(self) {
                Ok(serde_json::Value::Object(fields)) => fields
                    .into_iter()
                    .filter(|(name, _)| name != "hash")
                    .collect(),
                _ => std::collections::BTreeMap::new(),
            };
        let canonical = serde_json::to_vec(&unsigned).unwrap_or_default();
        let mut hasher = Sha256::new();
        hasher.update(self.prev_hash.as_bytes());
        hasher.update(&canonical);
        hex(&hasher.finalize())
    }

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

impl Head {
    #[must_use]
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS.to_owned(),
        }
    }
}

#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
