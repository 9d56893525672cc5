//! The admin interface: a unix socket (`STATE_DIR/admin.sock`, mode 0600
//! in a 0700 root directory) that only root can reach, speaking
//! newline-delimited JSON. One request per line; the answer is one line,
//! or for `audit_export` one line per record and then `"done"`.
//!
//! ```text
//! {"op":"list","pending_only":true}          → {"approvals":[…]}
//! {"op":"show","id":"ID"}                    → {"approval":{…}}
//! {"op":"approve","id":"ID","reason":null}   → {"approval":{…}}
//! {"op":"deny","id":"ID","reason":"…"}       → {"approval":{…}}
//! {"op":"audit_export","since_unix_ms":0}    → {"record":{…}} … "done"
//! {"op":"audit_verify"}                      → {"intact":{…}} | {"broken":{…}}
//! {"op":"audit_prune","before_unix_ms":T}    → {"pruned":{…}} | {"pruned":null}
//! any failure                                → {"error":"…"}
//! ```
//!
//! The same [`handle`] serves the socket and, when no gateway is running,
//! the CLI opening the database itself.

pub mod client;
pub mod server;

use serde::{Deserialize, Serialize};

use crate::{
    approvals::{
        desk::{ApprovalDesk, ApprovalView, Verdict},
        store::ApprovalStore,
    },
    audit::{
        AuditLog, AuditRecord,
        prune::Pruned,
        verify::{Broken, Intact},
    },
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AdminRequest {
    List {
        #[serde(default)]
        pending_only: bool,
    },
    Show {
        id: String,
    },
    Approve {
        id: String,
        #[serde(default)]
        reason: Option<String>,
    },
    Deny {
        id: String,
        #[serde(default)]
        reason: Option<String>,
    },
    AuditExport {
        #[serde(default)]
        since_unix_ms: u64,
    },
    AuditVerify,
    AuditPrune {
        before_unix_ms: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminReply {
    Approvals(Vec<ApprovalView>),
    Approval(ApprovalView),
    Record(AuditRecord),
    Done,
    Intact(Intact),
    Broken(Broken),
    /// What a prune removed; `None` when nothing was old enough.
    Pruned(Option<Pruned>),
    Error(String),
}

/// The channel name decisions made here are recorded with.
pub const VIA: &str = "cli";

/// Answers `request` for the user `by`, passing each reply line to `emit`.
pub fn handle(
    request: AdminRequest,
    store: &ApprovalStore,
    audit: &AuditLog,
    by: &str,
    emit: &mut dyn FnMut(AdminReply) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let reply = match request {
        AdminRequest::List { pending_only } => store
            .list(pending_only)
            .map_or_else(|e| AdminReply::Error(e.to_string()), AdminReply::Approvals),
        AdminRequest::Show { id } => store
            .show(&id)
            .map_or_else(|e| AdminReply::Error(e.to_string()), AdminReply::Approval),
        AdminRequest::Approve { id, reason } => {
            decide(store, &id, Verdict::Approve, by, reason.as_deref())
        }
        AdminRequest::Deny { id, reason } => {
            decide(store, &id, Verdict::Deny, by, reason.as_deref())
        }
        AdminRequest::AuditExport { since_unix_ms } => {
            match audit.export(since_unix_ms, |record| {
                emit(AdminReply::Record(record.clone()))
            }) {
                Ok(()) => AdminReply::Done,
                Err(e) => AdminReply::Error(e.to_string()),
            }
        }
        AdminRequest::AuditVerify => audit
            .verify()
            .map_or_else(AdminReply::Broken, AdminReply::Intact),
        AdminRequest::AuditPrune { before_unix_ms } => audit
            .prune(before_unix_ms, by, VIA)
            .map_or_else(|e| AdminReply::Error(e.to_string()), AdminReply::Pruned),
    };
    emit(reply)
}

fn decide(
    store: &ApprovalStore,
    id: &str,
    verdict: Verdict,
    by: &str,
    reason: Option<&str>,
) -> AdminReply {
    store
        .decide(id, verdict, by, VIA, reason)
        .map_or_else(|e| AdminReply::Error(e.to_string()), AdminReply::Approval)
}

/// The name of user `uid` from /etc/passwd, else `uid:N`.
#[must_use]
pub fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                let id: u32 = fields.nth(1)?.parse().ok()?;
                (id == uid).then(|| name.to_owned())
            })
        })
        .unwrap_or_else(|| format!("uid:{uid}"))
}
