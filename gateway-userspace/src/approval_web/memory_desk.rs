//! An [`ApprovalDesk`] held in memory, for the web page's own tests and the
//! hidden `approvals-web-demo` command the browser test drives. The real
//! desk is the approvals store.

use std::sync::Mutex;

use tokio::sync::broadcast;

use crate::approvals::desk::{
    ApprovalDesk, ApprovalStatus, ApprovalView, DeskError, DeskEvent, Verdict,
};

pub struct MemoryDesk {
    /// Oldest first.
    approvals: Mutex<Vec<ApprovalView>>,
    events: broadcast::Sender<DeskEvent>,
}

impl Default for MemoryDesk {
    fn default() -> Self {
        Self {
            approvals: Mutex::new(Vec::new()),
            events: broadcast::channel(64).0,
        }
    }
}

impl MemoryDesk {
    /// Adds an approval (as the request path would) and tells subscribers.
    pub fn add(&self, approval: ApprovalView) {
        self.lock().push(approval.clone());
        let _ = self.events.send(DeskEvent::Created { approval });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ApprovalView>> {
        self.approvals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ApprovalDesk for MemoryDesk {
    fn list(&self, only_pending: bool) -> Result<Vec<ApprovalView>, DeskError> {
        Ok(self
            .lock()
            .iter()
            .rev()
            .filter(|a| !only_pending || a.status == ApprovalStatus::Pending)
            .cloned()
            .collect())
    }

    fn show(&self, id: &str) -> Result<ApprovalView, DeskError> {
        self.lock()
            .iter()
            .find(|a| a.id == id)
            .cloned()
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
        let decided = {
            let mut approvals = self.lock();
            let approval = approvals
                .iter_mut()
                .find(|a| a.id == id)
                .ok_or_else(|| DeskError::NotFound(id.to_owned()))?;
            if approval.status != ApprovalStatus::Pending {
                return Err(DeskError::AlreadyDecided {
                    id: id.to_owned(),
                    status: approval.status,
                });
            }
            *approval = approval.clone().decided(verdict, by, via, reason);
            approval.clone()
        };
        let _ = self.events.send(DeskEvent::Changed {
            approval: decided.clone(),
        });
        Ok(decided)
    }

    fn subscribe(&self) -> broadcast::Receiver<DeskEvent> {
        self.events.subscribe()
    }
}
