//! A request whose rule says `approve`. The whole body is read (the
//! approval is bound to its hash), then the store decides: a granted
//! approval for this exact request is used up and the request sent; a
//! pending one (or a new one) is waited for, up to the hold time; a
//! standing denial is answered at once.
//!
//! Answers (JSON, with `approval_id` and `status`): 403 `approval_denied`
//! (final for the approval's lifetime), 403 `approval_expired` (a new
//! identical request asks again), 403 `approval_pending` with
//! `Retry-After` when nobody decided in time (once approved, one retry of
//! the identical request goes through), 429 `too_many_pending_approvals`,
//! 413 `body_too_large_for_approval`.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header, request::Parts};
use hyper::upgrade::OnUpgrade;
use serde::Serialize;
use tokio::time::Instant;

use super::{
    ConnContext,
    answer::json_of,
    body::{ProxyBody, discard, full, read_whole},
    request::{exfiltration_answer, forward, gateway_answer, request_event, upstream_failure},
};
use crate::{
    approvals::{
        desk::{ApprovalStatus, ApprovalView},
        hold::hold,
        snapshot::{NewApproval, RequestSnapshot},
        store::{Admission, ApprovalStore, StoreError},
    },
    audit::AuditKind,
    credentials::{Injected, Target},
    policy::Decision,
};

/// The largest body an approval can cover (it is held in memory).
const BODY_CAP: usize = 8 * 1024 * 1024;
/// How much of an oversized body is read (and dropped) before the 413.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;
const DRAIN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// What a `pending` answer suggests: the retry is held again, so soon is fine.
const RETRY_AFTER_SECONDS: u64 = 10;

#[derive(Serialize)]
struct ApprovalAnswer<'a> {
    error: &'a str,
    message: String,
    approval_id: &'a str,
    status: ApprovalStatus,
    rule: &'a str,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    decision_reason: Option<&'a str>,
    expires_unix_ms: u64,
    request_id: &'a str,
}

pub async fn handle(
    conn: &ConnContext,
    host: &str,
    parts: Parts,
    body: ProxyBody,
    upgrade: Option<OnUpgrade>,
    decision: &Decision,
    target: Target,
) -> Response<ProxyBody> {
    let id = target.request_id.clone();
    let body = match whole_body(conn, &parts, host, body, decision, &id).await {
        Ok(body) => body,
        Err(answer) => return answer,
    };
    // A placeholder where it may not go is refused before anyone is asked.
    if let Err(attempt) = conn
        .interceptor
        .credentials
        .check(&parts, Some(&body), &target)
    {
        return exfiltration_answer(&attempt, &id);
    }
    // Admitted again on every pass of the hold loop: shared, not copied.
    let new = Arc::new(NewApproval::new(&RequestSnapshot {
        agent: &conn.agent().name,
        method: parts.method.as_str(),
        scheme: if conn.tls { "https" } else { "http" },
        host,
        port: conn.dst.0.port(),
        path_and_query: parts.uri.path_and_query().map_or("/", |p| p.as_str()),
        headers: &parts.headers,
        body: &body,
        rule: &decision.rule,
        reason: decision.reason.as_deref().unwrap_or(""),
        request_id: &id,
    }));
    let store = &conn.interceptor.approvals;
    let deadline = Instant::now() + store.settings().hold;
    loop {
        let admission = blocking(store, {
            let new = Arc::clone(&new);
            move |store| store.admit(&new)
        })
        .await;
        let approval = match admission {
            Ok(Admission::Go(used)) => {
                return send(conn, host, parts, body, upgrade, &target, &used).await;
            }
            Ok(Admission::Denied(denied)) => {
                let reason = "this request was denied by a person";
                refused(conn, &parts, host, decision, &id, Some(&denied.id), reason);
                return final_answer(&denied, &id);
            }
            Ok(Admission::Wait { approval, created }) => {
                tracing::info!(agent = %new.agent, approval_id = %approval.id, created, request_id = %id, "request held for approval");
                approval
            }
            Err(StoreError::TooManyPending { agent, limit }) => {
                let reason = "too many pending approvals";
                refused(conn, &parts, host, decision, &id, None, reason);
                let message = format!(
                    "agent {agent} already has {limit} approvals waiting for a person; wait for them to be decided or to expire"
                );
                return gateway_answer(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_pending_approvals",
                    message,
                    Some(decision),
                    &id,
                );
            }
            Err(error) => return unavailable(&error, &id),
        };
        let now = match hold(store, &approval.id, deadline).await {
            Ok(now) => now,
            Err(error) => return unavailable(&error, &id),
        };
        match now.status {
            ApprovalStatus::Approved => {
                let approval_id = now.id.clone();
                let request_id = id.clone();
                match blocking(store, move |store| store.consume(&approval_id, &request_id)).await {
                    Ok(Some(used)) => {
                        return send(conn, host, parts, body, upgrade, &target, &used).await;
                    }
                    // An identical request took it first: ask again.
                    Ok(None) => {}
                    Err(error) => return unavailable(&error, &id),
                }
            }
            ApprovalStatus::Used => {}
            ApprovalStatus::Pending => return pending_answer(&now, &id),
            ApprovalStatus::Denied | ApprovalStatus::Expired => return final_answer(&now, &id),
        }
    }
}

/// The whole body, which the approval binds by its hash; or the answer
/// for a body too large to approve, or one that failed to arrive.
async fn whole_body(
    conn: &ConnContext,
    parts: &Parts,
    host: &str,
    body: ProxyBody,
    decision: &Decision,
    id: &str,
) -> Result<Bytes, Response<ProxyBody>> {
    match read_whole(body, BODY_CAP).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(rest)) => {
            // Read the rest so the agent reliably gets the answer.
            discard(rest, DRAIN_LIMIT, DRAIN_WAIT).await;
            refused(
                conn,
                parts,
                host,
                decision,
                id,
                None,
                "body too large for approval",
            );
            let message = format!(
                "this request needs a person's approval, which covers the whole body; bodies over {BODY_CAP} bytes cannot be approved"
            );
            Err(gateway_answer(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large_for_approval",
                message,
                Some(decision),
                id,
            ))
        }
        Err(error) => Err(upstream_failure(id, &*error, &Injected::none())),
    }
}

/// Records a request the approval flow refused without asking anyone.
fn refused(
    conn: &ConnContext,
    parts: &Parts,
    host: &str,
    decision: &Decision,
    id: &str,
    approval_id: Option<&str>,
    reason: &str,
) {
    let mut event = request_event(conn, AuditKind::Denied, parts, host, decision, id);
    event.approval_id = approval_id.map(str::to_owned);
    event.reason = Some(reason.to_owned());
    conn.interceptor.audit.record(event);
}

/// Runs a store call (which may wait for the disk) off the async threads.
async fn blocking<T: Send + 'static>(
    store: &Arc<ApprovalStore>,
    call: impl FnOnce(&ApprovalStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || call(&store))
        .await
        .unwrap_or_else(|e| Err(StoreError::Task(e.to_string())))
}

/// Sends an approved request, with its secrets put in only now.
async fn send(
    conn: &ConnContext,
    host: &str,
    mut parts: Parts,
    body: Bytes,
    upgrade: Option<OnUpgrade>,
    target: &Target,
    approval: &ApprovalView,
) -> Response<ProxyBody> {
    let id = target.request_id.clone();
    // The whole body is here: it is checked in full, no guard needed.
    let injected = match conn
        .interceptor
        .credentials
        .inject(&mut parts, Some(&body), target)
    {
        Ok(injected) => injected,
        Err(attempt) => return exfiltration_answer(&attempt, &id),
    };
    tracing::info!(agent = %approval.agent, approval_id = %approval.id, method = %approval.method, host, path = %approval.path_and_query, request_id = %id, "approved request sent");
    forward(
        conn,
        host,
        Request::from_parts(parts, full(body)),
        upgrade,
        id,
        &injected,
    )
    .await
}

fn pending_answer(approval: &ApprovalView, id: &str) -> Response<ProxyBody> {
    let message = format!(
        "this request is waiting for a person's approval (approval {}); once it is approved, send the identical request again and it goes through once",
        approval.id
    );
    let mut response = answer(
        StatusCode::FORBIDDEN,
        "approval_pending",
        message,
        approval,
        id,
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, RETRY_AFTER_SECONDS.into());
    response
}

fn final_answer(approval: &ApprovalView, id: &str) -> Response<ProxyBody> {
    let (error, message) = if approval.status == ApprovalStatus::Denied {
        (
            "approval_denied",
            format!(
                "a person denied this request (approval {}); the identical request stays denied until the approval expires",
                approval.id
            ),
        )
    } else {
        (
            "approval_expired",
            format!(
                "approval {} expired before it was decided or used; sending the request again asks for a new approval",
                approval.id
            ),
        )
    };
    tracing::info!(agent = %approval.agent, approval_id = %approval.id, status = ?approval.status, request_id = %id, "request refused after approval");
    answer(StatusCode::FORBIDDEN, error, message, approval, id)
}

fn answer(
    status: StatusCode,
    error: &str,
    message: String,
    approval: &ApprovalView,
    id: &str,
) -> Response<ProxyBody> {
    json_of(
        status,
        id,
        &ApprovalAnswer {
            error,
            message,
            approval_id: &approval.id,
            status: approval.status,
            rule: &approval.rule,
            reason: &approval.reason,
            decision_reason: approval.decision_reason.as_deref(),
            expires_unix_ms: approval.expires_unix_ms,
            request_id: id,
        },
    )
}

fn unavailable(error: &StoreError, id: &str) -> Response<ProxyBody> {
    tracing::error!(%error, request_id = %id, "approvals store failed");
    gateway_answer(
        StatusCode::SERVICE_UNAVAILABLE,
        "approvals_unavailable",
        format!("the gateway could not record the approval: {error}"),
        None,
        id,
    )
}
