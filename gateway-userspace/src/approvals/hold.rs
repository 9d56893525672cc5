//! Holding a request open while a person decides: wait for the approval's
//! status to change, until a deadline (the hold time, or the approval's
//! expiry if sooner).

use std::time::Duration;

use tokio::{sync::broadcast::error::RecvError, time::Instant};

use super::{
    desk::{ApprovalStatus, ApprovalView, DeskEvent},
    store::{ApprovalStore, StoreError},
};
use crate::audit::now_unix_ms;

/// Waits until approval `id` is no longer pending or `deadline` passes;
/// returns it as it then stands (still pending on timeout).
pub async fn hold(
    store: &ApprovalStore,
    id: &str,
    deadline: Instant,
) -> Result<ApprovalView, StoreError> {
    // Subscribe before looking, so no change falls in between.
    let mut events = store.subscribe();
    loop {
        let current = store
            .refresh(id)?
            .ok_or_else(|| StoreError::NotFound(id.to_owned()))?
            .view;
        if current.status != ApprovalStatus::Pending {
            return Ok(current);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(current);
        }
        let to_expiry =
            Duration::from_millis(current.expires_unix_ms.saturating_sub(now_unix_ms()));
        let wake = deadline.min(now + to_expiry);
        let changed = async {
            loop {
                match events.recv().await {
                    Ok(DeskEvent::Changed { approval }) if approval.id == id => return true,
                    Ok(_) => {}
                    // Missed events: look again.
                    Err(RecvError::Lagged(_)) => return true,
                    Err(RecvError::Closed) => return false,
                }
            }
        };
        tokio::select! {
            open = changed => if !open {
                tokio::time::sleep_until(wake).await;
            },
            () = tokio::time::sleep_until(wake) => {}
        }
    }
}
