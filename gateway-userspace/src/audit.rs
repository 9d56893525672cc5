//! The audit log: every decision the gateway takes (requests allowed and
//! denied, approvals requested, decided, used and expired, exfiltration
//! blocked), kept in sled, each record chained to the one before by a
//! SHA-256 hash so that a removed, altered or reordered record shows.
//!
//! The request path only hands an event over a bounded channel
//! ([`AuditLog::record`]) to a writer thread, which chains and writes
//! them in batches. Decisions a person or an agent is told about are
//! chained and flushed by the caller itself
//! ([`AuditLog::record_durable_blocking`]), without a thread hop.

mod chain;
pub mod prune;
pub mod record;
pub mod verify;
mod writer;

use std::sync::{
    Arc, Mutex, MutexGuard, PoisonError,
    atomic::{AtomicU64, Ordering},
    mpsc,
};

use serde::{Deserialize, Serialize};

pub use self::record::AuditRecord;
use self::{chain::Chain, writer::Command};

/// Events waiting for the writer; past this, request-path events are
/// counted as dropped (and the count is itself recorded).
const QUEUE: usize = 65_536;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit database: {0}")]
    Db(#[from] sled::Error),
    #[error("audit record {seq}: {message}")]
    Corrupt { seq: u64, message: String },
    #[error("writing the audit log: {0}")]
    Write(String),
    #[error("the audit writer has stopped")]
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    Allowed,
    Denied,
    ApprovalRequested,
    Approved,
    ApprovalDenied,
    Expired,
    ApprovalUsed,
    ExfiltrationBlocked,
    /// The queue was full: `count` request-path events were not recorded.
    RecordsDropped,
    /// `count` old records were removed by `by`; `reason` names the
    /// checkpoint the chain now starts from.
    Pruned,
}

/// What happened; every field but `kind` is optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub kind: AuditKind,
    pub agent: Option<String>,
    pub method: Option<String>,
    pub host: Option<String>,
    pub path: Option<String>,
    pub rule: Option<String>,
    pub approval_id: Option<String>,
    /// Who decided (a unix user, a web session's name).
    pub by: Option<String>,
    /// Through which channel: `cli`, `web`, `gateway` (expiry).
    pub via: Option<String>,
    pub reason: Option<String>,
    pub request_id: Option<String>,
    /// Exfiltration: the secret's name (never its value) and where it was seen.
    pub secret: Option<String>,
    pub position: Option<String>,
    pub count: Option<u64>,
}

impl AuditEvent {
    #[must_use]
    pub fn new(kind: AuditKind) -> Self {
        Self {
            kind,
            agent: None,
            method: None,
            host: None,
            path: None,
            rule: None,
            approval_id: None,
            by: None,
            via: None,
            reason: None,
            request_id: None,
            secret: None,
            position: None,
            count: None,
        }
    }
}

/// A handle on the audit log; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    queue: mpsc::SyncSender<Command>,
    dropped: Arc<AtomicU64>,
    chain: Arc<Chain>,
    tree: sled::Tree,
    /// Verify, export and prune one at a time: a prune between a
    /// verification's read of the checkpoint and of the first batch would
    /// look like removed records.
    maintenance: Arc<Mutex<()>>,
}

impl AuditLog {
    /// Opens the `audit` tree of `db` and starts its writer thread, which
    /// ends when the last handle is dropped (after writing what it has).
    pub fn open(db: &sled::Db) -> Result<Self, AuditError> {
        let tree = db.open_tree("audit")?;
        let chain = Arc::new(Chain::open(db, tree.clone())?);
        let dropped = Arc::new(AtomicU64::new(0));
        let (queue, receiver) = mpsc::sync_channel(QUEUE);
        writer::spawn(Arc::clone(&chain), receiver, Arc::clone(&dropped))?;
        Ok(Self {
            queue,
            dropped,
            chain,
            tree,
            maintenance: Arc::default(),
        })
    }

    /// Records `event` without waiting: for the request path. The record
    /// reaches the disk within about 100 ms.
    pub fn record(&self, event: AuditEvent) {
        let command = Command::Record(now_unix_ms(), event);
        if let Err(mpsc::TrySendError::Full(_)) = self.queue.try_send(command)
            && self.dropped.fetch_add(1, Ordering::Relaxed) == 0
        {
            tracing::warn!(
                "audit queue full: request events are being dropped (counted in the log)"
            );
        }
    }

    /// Records `event` and returns once it is on disk, with every write
    /// to the database made before the call (an approval's own record):
    /// one fsync on the calling thread.
    pub fn record_durable_blocking(&self, event: AuditEvent) -> Result<AuditRecord, AuditError> {
        let mut records = self.chain.append([(now_unix_ms(), event)])?;
        self.chain.flush()?;
        records.pop().ok_or(AuditError::Stopped)
    }

    /// Returns once every record handed over before is on disk (at stop).
    pub async fn sync(&self) {
        let (reply, done) = tokio::sync::oneshot::channel();
        if self.queue.send(Command::Sync(reply)).is_ok() {
            let _ = done.await;
        }
    }

    /// Like [`Self::sync`], blocking; not from within the async runtime.
    pub fn sync_blocking(&self) {
        let (reply, done) = tokio::sync::oneshot::channel();
        if self.queue.send(Command::Sync(reply)).is_ok() {
            let _ = done.blocking_recv();
        }
    }

    /// Checks the whole chain (see [`verify::verify`]).
    pub fn verify(&self) -> Result<verify::Intact, verify::Broken> {
        let _alone = self.maintenance();
        verify::verify(&self.tree)
    }

    /// Removes the records older than `before_unix_ms` (whole batches; see
    /// [`prune::prune`]) and records that `by` did, through `via`, durably.
    pub fn prune(
        &self,
        before_unix_ms: u64,
        by: &str,
        via: &str,
    ) -> Result<Option<prune::Pruned>, AuditError> {
        let _alone = self.maintenance();
        let Some(pruned) = prune::prune(&self.tree, before_unix_ms)? else {
            return Ok(None);
        };
        let mut event = AuditEvent::new(AuditKind::Pruned);
        event.count = Some(pruned.records);
        event.by = Some(by.to_owned());
        event.via = Some(via.to_owned());
        event.reason = Some(format!(
            "records up to seq {} removed (older than {}); the chain goes on from hash {}",
            pruned.checkpoint.seq,
            crate::time_text::rfc3339(before_unix_ms),
            pruned.checkpoint.hash
        ));
        // Also makes the removal durable: one flush for both.
        self.record_durable_blocking(event)?;
        Ok(Some(pruned))
    }

    fn maintenance(&self) -> MutexGuard<'_, ()> {
        self.maintenance
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Calls `each` for every record at or after `since_unix_ms`, in order.
    pub fn export(
        &self,
        since_unix_ms: u64,
        each: impl FnMut(&AuditRecord) -> std::io::Result<()>,
    ) -> Result<(), verify::ExportError> {
        let _alone = self.maintenance();
        verify::export(&self.tree, since_unix_ms, each)
    }
}

#[must_use]
pub fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
