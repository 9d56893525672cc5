//! Keeping the store tidy: at start and then periodically, approvals past
//! their time are marked expired (and audited), and finished ones are
//! removed a day after they expire (the audit log keeps their history).
//! At start the pending counts and the dedup index are rebuilt from the
//! approvals themselves, which are the truth.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError},
    time::Duration,
};

use super::{ApprovalStore, StoreError, StoredApproval, parse};
use crate::{approvals::desk::ApprovalStatus, audit::now_unix_ms};

/// How long a finished approval is kept after its expiry.
const RETAIN_FINISHED_MS: u64 = 24 * 60 * 60 * 1000;

impl ApprovalStore {
    /// Expires what fell due, removes old finished approvals; returns how
    /// many expired.
    pub fn expire_due(&self) -> Result<usize, StoreError> {
        let now = now_unix_ms();
        let mut expired = 0;
        for entry in &self.approvals {
            let (key, value) = entry?;
            let id = String::from_utf8_lossy(&key);
            // Only the fields needed here: the scan runs every few seconds.
            let brief: Brief = serde_json::from_slice(&value).map_err(|e| StoreError::Corrupt {
                id: id.to_string(),
                message: e.to_string(),
            })?;
            let (status, expires_at) = (brief.view.status, brief.view.expires_unix_ms);
            if super::is_due(status, expires_at, now) {
                if self
                    .refresh(&id)?
                    .is_some_and(|s| s.view.status == ApprovalStatus::Expired)
                {
                    expired += 1;
                }
            } else if is_finished(status) && now >= expires_at.saturating_add(RETAIN_FINISHED_MS) {
                self.approvals.remove(&key)?;
                // Only if the index still points here.
                let _ = self.index.compare_and_swap(
                    brief.binding.as_bytes(),
                    Some(&key[..]),
                    None::<&[u8]>,
                )?;
            }
        }
        Ok(expired)
    }

    pub(super) fn rebuild(&self) -> Result<(), StoreError> {
        let expired = self.expire_due()?;
        let mut pending: HashMap<String, usize> = HashMap::new();
        let mut newest: HashMap<String, (u64, String)> = HashMap::new();
        for stored in self.all()? {
            let view = &stored.view;
            if view.status == ApprovalStatus::Pending {
                *pending.entry(view.agent.clone()).or_default() += 1;
            }
            let slot = newest
                .entry(stored.binding.clone())
                .or_insert((0, String::new()));
            if view.created_unix_ms >= slot.0 {
                *slot = (view.created_unix_ms, view.id.clone());
            }
        }
        for (binding, (_, id)) in &newest {
            if self.index.get(binding.as_bytes())?.as_deref() != Some(id.as_bytes()) {
                self.index.insert(binding.as_bytes(), id.as_bytes())?;
            }
        }
        let total: usize = pending.values().sum();
        *self.pending.lock().unwrap_or_else(PoisonError::into_inner) = pending;
        tracing::debug!(pending = total, expired, "approvals store open");
        Ok(())
    }

    fn all(&self) -> Result<Vec<StoredApproval>, StoreError> {
        let mut out = Vec::new();
        for entry in &self.approvals {
            let (key, value) = entry?;
            out.push(parse(&String::from_utf8_lossy(&key), &value)?);
        }
        Ok(out)
    }
}

/// The part of a stored approval the periodic scan reads.
#[derive(serde::Deserialize)]
struct Brief {
    binding: String,
    view: BriefView,
}

#[derive(serde::Deserialize)]
struct BriefView {
    status: ApprovalStatus,
    expires_unix_ms: u64,
}

fn is_finished(status: ApprovalStatus) -> bool {
    matches!(
        status,
        ApprovalStatus::Used | ApprovalStatus::Denied | ApprovalStatus::Expired
    )
}

/// Expires due approvals every `every`, off the async threads.
pub fn spawn_cleanup(store: Arc<ApprovalStore>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let store = Arc::clone(&store);
            match tokio::task::spawn_blocking(move || store.expire_due()).await {
                Ok(Ok(0)) => {}
                Ok(Ok(expired)) => tracing::debug!(expired, "approvals expired"),
                Ok(Err(error)) => tracing::warn!(%error, "expiring approvals failed"),
                Err(error) => tracing::warn!(%error, "the approvals cleanup task failed"),
            }
        }
    })
}
