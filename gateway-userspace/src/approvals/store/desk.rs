//! The store as channels see it: the CLI (through the admin socket) and
//! the web page list, show and decide approvals through [`ApprovalDesk`].

use std::sync::PoisonError;

use super::{ApprovalStore, StoreError, Transition, audit_event, parse};
use crate::{
    approvals::desk::{ApprovalDesk, ApprovalStatus, ApprovalView, DeskError, DeskEvent, Verdict},
    audit::{AuditKind, now_unix_ms},
};

impl From<StoreError> for DeskError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(id) => Self::NotFound(id),
            other => Self::Store(other.to_string()),
        }
    }
}

impl ApprovalDesk for ApprovalStore {
    fn list(&self, only_pending: bool) -> Result<Vec<ApprovalView>, DeskError> {
        let mut views = Vec::new();
        for entry in &self.approvals {
            let (key, value) = entry.map_err(StoreError::from)?;
            let view = parse(&String::from_utf8_lossy(&key), &value)?.view;
            if !only_pending || view.status == ApprovalStatus::Pending {
                views.push(view);
            }
        }
        views.sort_by(|a, b| {
            b.created_unix_ms
                .cmp(&a.created_unix_ms)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(views)
    }

    fn show(&self, id: &str) -> Result<ApprovalView, DeskError> {
        self.refresh(id)?
            .map(|s| s.view)
            .ok_or_else(|| DeskError::NotFound(id.to_owned()))
    }

    fn decide(
        &self,
        id: &str,
        verdict: Verdict,
        by: &str,
        via: &str,
        reason: Option<&str>,
    ) -> Result<ApprovalView, DeskError> {
        // Retries are admitted one at a time with this lock held: none
        // may use the approval before its decision is recorded below.
        let _no_admission = self
            .admission
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // A pending approval past its time is expired, not decided.
        self.refresh(id)?
            .ok_or_else(|| DeskError::NotFound(id.to_owned()))?;
        let now = now_unix_ms();
        let changed = self.transition(id, |s| {
            (s.view.status == ApprovalStatus::Pending && now < s.view.expires_unix_ms).then(|| {
                let mut next = s.clone();
                next.view = next.view.decided(verdict, by, via, reason);
                next
            })
        })?;
        let decided = match changed {
            Transition::Changed(decided) => decided,
            Transition::Unchanged(current) => {
                return Err(DeskError::AlreadyDecided {
                    id: id.to_owned(),
                    status: current.view.status,
                });
            }
        };
        let kind = match verdict {
            Verdict::Approve => AuditKind::Approved,
            Verdict::Deny => AuditKind::ApprovalDenied,
        };
        let mut event = audit_event(kind, &decided.view);
        event.by = Some(by.to_owned());
        event.via = Some(via.to_owned());
        event.reason = reason.map(str::to_owned);
        // The person, and the held request, are told only once the
        // decision is on disk.
        let recorded = self.audit.record_durable_blocking(event);
        self.announce(&decided);
        recorded.map_err(StoreError::from)?;
        tracing::info!(approval_id = %id, agent = %decided.view.agent, ?verdict, by, via, "approval decided");
        Ok(decided.view)
    }

    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<DeskEvent> {
        self.events.subscribe()
    }
}
