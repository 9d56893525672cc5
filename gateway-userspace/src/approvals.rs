//! Human approval of requests whose policy rule says `approve`: the
//! pending requests, their decisions, and what channels see of them.
//!
//! A request is bound to its approval by [`binding`]; the [`store`] keeps
//! approvals in sled and makes every change durable before it is acted
//! on; [`hold`] keeps a request open while a person decides; channels
//! decide through the [`desk::ApprovalDesk`] seam.

pub mod binding;
pub mod desk;
pub mod hold;
pub mod snapshot;
pub mod store;

use std::time::Duration;

/// `[approvals]` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalSettings {
    /// How long a request is held open waiting for a decision.
    pub hold: Duration,
    /// How long an approval lives: pending ones expire, and a granted one
    /// must be used (by one identical retry) within it.
    pub expire: Duration,
    /// Pending approvals one agent may have at once.
    pub max_pending_per_agent: usize,
    /// Port of the local web page on 127.0.0.1; `None` when turned off
    /// (`web_port = 0`).
    pub web_port: Option<u16>,
}

pub const DEFAULT_HOLD_SECONDS: u64 = 120;
pub const DEFAULT_EXPIRE_SECONDS: u64 = 3600;
pub const DEFAULT_MAX_PENDING_PER_AGENT: usize = 20;

impl Default for ApprovalSettings {
    fn default() -> Self {
        Self {
            hold: Duration::from_secs(DEFAULT_HOLD_SECONDS),
            expire: Duration::from_secs(DEFAULT_EXPIRE_SECONDS),
            max_pending_per_agent: DEFAULT_MAX_PENDING_PER_AGENT,
            web_port: Some(crate::config::DEFAULT_WEB_PORT),
        }
    }
}
