//! The approvals store: pending approvals and their decisions in sled,
//! durable before anyone is told about them.
//!
//! Tree `approvals`: id → [`StoredApproval`] (JSON). Tree
//! `approval_index`: binding → id of the newest approval for that exact
//! request, for deduplication and for finding the approval a retry uses.
//! Every status change is a compare-and-swap on the approval's bytes, so
//! two deciders (or two identical retries) cannot both win; the change is
//! flushed (with its audit record) before it is acted on.

mod admission;
mod cleanup;
pub use self::cleanup::spawn_cleanup;
mod desk;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::{
    ApprovalSettings,
    desk::{ApprovalStatus, ApprovalView, DeskEvent},
};
use crate::audit::{AuditError, AuditEvent, AuditKind, AuditLog, now_unix_ms};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("approvals database: {0}")]
    Db(#[from] sled::Error),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("approval {id} is unreadable: {message}")]
    Corrupt { id: String, message: String },
    #[error("agent {agent} already has {limit} pending approvals")]
    TooManyPending { agent: String, limit: usize },
    #[error("no approval with id {0:?}")]
    NotFound(String),
    #[error("drawing a random approval id: {0}")]
    Random(String),
    #[error("the approvals task failed: {0}")]
    Task(String),
}

/// An approval as stored: what a person sees, and the binding.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredApproval {
    pub binding: String,
    pub view: ApprovalView,
}

impl StoredApproval {
    fn is_due(&self, now_ms: u64) -> bool {
        is_due(self.view.status, self.view.expires_unix_ms, now_ms)
    }
}

/// Whether an approval in `status` that expires at `expires_ms` must be
/// marked expired at `now_ms` (one not yet used: pending or approved).
fn is_due(status: ApprovalStatus, expires_ms: u64, now_ms: u64) -> bool {
    matches!(status, ApprovalStatus::Pending | ApprovalStatus::Approved) && now_ms >= expires_ms
}

/// What a request that needs approval does next.
#[derive(Debug)]
pub enum Admission {
    /// An approval for this exact request was granted and is now used up:
    /// send the request.
    Go(ApprovalView),
    /// Wait for this approval (`created`: it was made for this request).
    Wait {
        approval: ApprovalView,
        created: bool,
    },
    /// This exact request was denied, and the denial still stands.
    Denied(ApprovalView),
}

/// The outcome of a compare-and-swap status change.
enum Transition {
    Changed(StoredApproval),
    Unchanged(StoredApproval),
}

pub struct ApprovalStore {
    approvals: sled::Tree,
    index: sled::Tree,
    audit: AuditLog,
    settings: ApprovalSettings,
    events: broadcast::Sender<DeskEvent>,
    /// Pending approvals per agent, for the cap.
    pending: Mutex<HashMap<String, usize>>,
    /// Admissions one at a time: deduplication and the cap see each
    /// other's approvals. A decision holds it too, until its audit record
    /// is written, so no retry uses an approval before that.
    admission: Mutex<()>,
}

impl ApprovalStore {
    /// Opens the trees, expires what fell due while the gateway was down
    /// and counts the pending approvals.
    pub fn open(
        db: &sled::Db,
        audit: AuditLog,
        settings: ApprovalSettings,
    ) -> Result<Arc<Self>, StoreError> {
        let (events, _) = broadcast::channel(1024);
        let store = Arc::new(Self {
            approvals: db.open_tree("approvals")?,
            index: db.open_tree("approval_index")?,
            audit,
            settings,
            events,
            pending: Mutex::new(HashMap::new()),
            admission: Mutex::new(()),
        });
        store.rebuild()?;
        Ok(store)
    }

    #[must_use]
    pub fn settings(&self) -> &ApprovalSettings {
        &self.settings
    }

    /// Uses up a granted approval: Approved → Used, flushed before it
    /// returns. `None` if it was not (or no longer) approved.
    pub fn consume(&self, id: &str, request_id: &str) -> Result<Option<ApprovalView>, StoreError> {
        let now = now_unix_ms();
        let changed = self.transition(id, |s| {
            (s.view.status == ApprovalStatus::Approved && now < s.view.expires_unix_ms).then(|| {
                let mut next = s.clone();
                next.view.status = ApprovalStatus::Used;
                next
            })
        })?;
        let Transition::Changed(used) = changed else {
            return Ok(None);
        };
        let mut event = audit_event(AuditKind::ApprovalUsed, &used.view);
        event.request_id = Some(request_id.to_owned());
        let recorded = self.audit.record_durable_blocking(event);
        self.announce(&used);
        recorded?;
        Ok(Some(used.view))
    }

    /// The approval as it stands, expiring it first if it fell due.
    pub fn refresh(&self, id: &str) -> Result<Option<StoredApproval>, StoreError> {
        let Some(current) = self.get(id)? else {
            return Ok(None);
        };
        let now = now_unix_ms();
        if !current.is_due(now) {
            return Ok(Some(current));
        }
        match self.transition(id, |s| {
            s.is_due(now).then(|| {
                let mut next = s.clone();
                next.view.status = ApprovalStatus::Expired;
                next
            })
        })? {
            Transition::Changed(expired) => {
                tracing::info!(approval_id = %id, agent = %expired.view.agent, "approval expired");
                let mut event = audit_event(AuditKind::Expired, &expired.view);
                event.via = Some("gateway".into());
                self.audit.record(event);
                self.announce(&expired);
                Ok(Some(expired))
            }
            Transition::Unchanged(current) => Ok(Some(current)),
        }
    }

    pub fn get(&self, id: &str) -> Result<Option<StoredApproval>, StoreError> {
        self.approvals
            .get(id.as_bytes())?
            .map(|bytes| parse(id, &bytes))
            .transpose()
    }

    /// Every status change and new approval, as it happens.
    pub fn subscribe(&self) -> broadcast::Receiver<DeskEvent> {
        self.events.subscribe()
    }

    /// Applies `change` to the approval with a compare-and-swap, retrying
    /// on a concurrent change; `change` returning `None` leaves it.
    fn transition(
        &self,
        id: &str,
        change: impl Fn(&StoredApproval) -> Option<StoredApproval>,
    ) -> Result<Transition, StoreError> {
        loop {
            let old_bytes = self
                .approvals
                .get(id.as_bytes())?
                .ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
            let old = parse(id, &old_bytes)?;
            let Some(new) = change(&old) else {
                return Ok(Transition::Unchanged(old));
            };
            let swapped = self.approvals.compare_and_swap(
                id.as_bytes(),
                Some(old_bytes),
                Some(encode(&new)),
            )?;
            if swapped.is_err() {
                continue;
            }
            if old.view.status == ApprovalStatus::Pending
                && new.view.status != ApprovalStatus::Pending
            {
                self.count_pending(&new.view.agent, -1);
            }
            // Not announced here: the caller does, once the change's
            // audit record is written (see [`Self::announce`]).
            return Ok(Transition::Changed(new));
        }
    }

    /// Tells held requests and live views of a change. Only after its
    /// audit record: a woken request may use the approval at once, and the
    /// log must not show it used before it was approved.
    fn announce(&self, changed: &StoredApproval) {
        let _ = self.events.send(DeskEvent::Changed {
            approval: changed.view.clone(),
        });
    }

    fn pending_of(&self, agent: &str) -> usize {
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.get(agent).copied().unwrap_or(0)
    }

    fn count_pending(&self, agent: &str, delta: isize) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let count = pending.entry(agent.to_owned()).or_insert(0);
        *count = count.saturating_add_signed(delta);
    }
}

/// An audit event naming the approval and its request.
fn audit_event(kind: AuditKind, view: &ApprovalView) -> AuditEvent {
    let mut event = AuditEvent::new(kind);
    event.agent = Some(view.agent.clone());
    event.method = Some(view.method.clone());
    event.host = Some(view.host.clone());
    event.path = Some(view.path_and_query.clone());
    event.rule = Some(view.rule.clone());
    event.approval_id = Some(view.id.clone());
    event
}

fn parse(id: &str, bytes: &[u8]) -> Result<StoredApproval, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        id: id.to_owned(),
        message: e.to_string(),
    })
}

fn encode(stored: &StoredApproval) -> Vec<u8> {
    serde_json::to_vec(stored).expect("an approval always serialises")
}

#[cfg(test)]
mod tests;
