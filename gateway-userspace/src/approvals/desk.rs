//! What a channel needs from the approvals store: the admin socket's CLI,
//! the local web page, and later the messaging apps all show approvals and
//! record decisions through this one seam, so none of them touches the
//! store (or a secret) directly.

use serde::{Deserialize, Serialize};

/// An approval as a person sees it. Header values that carry credentials
/// are already redacted; the body is a readable preview, bound to the full
/// body by its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalView {
    pub id: String,
    pub agent: String,
    pub method: String,
    /// `https` or `http`.
    pub scheme: String,
    pub host: String,
    pub port: u16,
    pub path_and_query: String,
    /// In the order sent; credentials redacted.
    pub headers: Vec<(String, String)>,
    pub body_preview: String,
    pub body_len: u64,
    pub body_sha256: String,
    /// The policy rule that asked for approval, and its reason text.
    pub rule: String,
    pub reason: String,
    pub status: ApprovalStatus,
    pub created_unix_ms: u64,
    pub expires_unix_ms: u64,
    pub decided_by: Option<String>,
    /// The channel the decision came through: `cli`, `web`, …
    pub decided_via: Option<String>,
    pub decision_reason: Option<String>,
}

impl ApprovalView {
    /// This approval as decided by `by` through `via` (whether it may
    /// still be decided is the desk's business).
    #[must_use]
    pub fn decided(mut self, verdict: Verdict, by: &str, via: &str, reason: Option<&str>) -> Self {
        self.status = match verdict {
            Verdict::Approve => ApprovalStatus::Approved,
            Verdict::Deny => ApprovalStatus::Denied,
        };
        self.decided_by = Some(by.to_owned());
        self.decided_via = Some(via.to_owned());
        self.decision_reason = reason.map(str::to_owned);
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Denied,
    Expired,
    /// Approved, and the one request it covers has gone out.
    Used,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    Deny,
}

/// Something a live view should show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum DeskEvent {
    Created { approval: ApprovalView },
    Changed { approval: ApprovalView },
}

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("no approval with id {0:?}")]
    NotFound(String),
    #[error("approval {id} is already {status:?}")]
    AlreadyDecided { id: String, status: ApprovalStatus },
    #[error("approvals store: {0}")]
    Store(String),
}

/// The approvals store as channels use it.
pub trait ApprovalDesk: Send + Sync + 'static {
    /// Newest first; only pending ones when `only_pending`.
    fn list(&self, only_pending: bool) -> Result<Vec<ApprovalView>, DeskError>;
    fn show(&self, id: &str) -> Result<ApprovalView, DeskError>;
    /// Records a person's decision durably before returning. `by` names the
    /// person (or unix user), `via` the channel.
    fn decide(
        &self,
        id: &str,
        verdict: Verdict,
        by: &str,
        via: &str,
        reason: Option<&str>,
    ) -> Result<ApprovalView, DeskError>;
    /// Live events: every new approval and every status change.
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<DeskEvent>;
}
