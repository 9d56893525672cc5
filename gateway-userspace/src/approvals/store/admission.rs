//! Admitting a request that needs approval: find the approval for this
//! exact request (use it, wait for it, or report its denial) or make a
//! new one, durably, within the agent's cap. One admission at a time, so
//! deduplication and the cap see each other's approvals.

use std::sync::PoisonError;

use super::{Admission, ApprovalStore, StoreError, StoredApproval, audit_event, encode};
use crate::{
    approvals::{
        desk::{ApprovalStatus, ApprovalView, DeskEvent},
        snapshot::NewApproval,
    },
    audit::{AuditKind, now_unix_ms},
};

impl ApprovalStore {
    /// Decides what a request needing approval does: use a granted
    /// approval, wait for a pending one, be told of a denial, or create
    /// a new approval (durably) and wait for it.
    pub fn admit(&self, new: &NewApproval) -> Result<Admission, StoreError> {
        let _one_at_a_time = self
            .admission
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let binding = new.binding();
        if let Some(id) = self.index.get(binding.as_bytes())? {
            let id = String::from_utf8_lossy(&id).into_owned();
            if let Some(current) = self.refresh(&id)? {
                let view = current.view;
                match view.status {
                    ApprovalStatus::Approved => {
                        if let Some(used) = self.consume(&id, &new.request_id)? {
                            return Ok(Admission::Go(used));
                        }
                    }
                    ApprovalStatus::Pending => {
                        return Ok(Admission::Wait {
                            approval: view,
                            created: false,
                        });
                    }
                    ApprovalStatus::Denied if now_unix_ms() < view.expires_unix_ms => {
                        return Ok(Admission::Denied(view));
                    }
                    _ => {}
                }
            }
        }
        let approval = self.create(new, &binding)?;
        Ok(Admission::Wait {
            approval,
            created: true,
        })
    }

    pub(super) fn create(
        &self,
        new: &NewApproval,
        binding: &str,
    ) -> Result<ApprovalView, StoreError> {
        let limit = self.settings.max_pending_per_agent;
        if self.pending_of(&new.agent) >= limit {
            return Err(StoreError::TooManyPending {
                agent: new.agent.clone(),
                limit,
            });
        }
        let id = new_id()?;
        let created = now_unix_ms();
        let expires = created
            .saturating_add(u64::try_from(self.settings.expire.as_millis()).unwrap_or(u64::MAX));
        let stored = StoredApproval {
            binding: binding.to_owned(),
            view: ApprovalView {
                id: id.clone(),
                agent: new.agent.clone(),
                method: new.method.clone(),
                scheme: new.scheme.clone(),
                host: new.host.clone(),
                port: new.port,
                path_and_query: new.path_and_query.clone(),
                headers: new.headers.clone(),
                body_preview: new.body_preview.clone(),
                body_len: new.body_len,
                body_sha256: new.body_sha256.clone(),
                rule: new.rule.clone(),
                reason: new.reason.clone(),
                status: ApprovalStatus::Pending,
                created_unix_ms: created,
                expires_unix_ms: expires,
                decided_by: None,
                decided_via: None,
                decision_reason: None,
            },
        };
        self.approvals.insert(id.as_bytes(), encode(&stored))?;
        self.index.insert(binding.as_bytes(), id.as_bytes())?;
        self.count_pending(&new.agent, 1);
        let mut event = audit_event(AuditKind::ApprovalRequested, &stored.view);
        event.request_id = Some(new.request_id.clone());
        // Flushes the approval with its record.
        self.audit.record_durable_blocking(event)?;
        let _ = self.events.send(DeskEvent::Created {
            approval: stored.view.clone(),
        });
        Ok(stored.view)
    }
}

/// 16 hex digits from the OS's random source: not guessable.
fn new_id() -> Result<String, StoreError> {
    let mut bytes = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| StoreError::Random("the OS random source failed".to_owned()))?;
    Ok(crate::hex::encode(&bytes))
}
