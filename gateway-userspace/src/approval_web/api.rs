//! The JSON API behind the page: list, show, approve, deny. Every call goes
//! through the `ApprovalDesk`; the desk may touch the disk, so calls run on
//! the blocking pool.

use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use serde::Deserialize;

use super::response::{WebBody, error_json, json};
use crate::approvals::desk::{ApprovalDesk, DeskError, Verdict};

/// The channel name recorded with web decisions.
pub const VIA: &str = "web";
/// Who decided, when the person typed no name.
pub const DEFAULT_BY: &str = "web page";
const DECISION_BODY_MAX: usize = 16 * 1024;
const BY_MAX_CHARS: usize = 64;
const REASON_MAX_CHARS: usize = 500;

/// What the page sends with a decision.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionForm {
    by: Option<String>,
    reason: Option<String>,
}

async fn on_desk<T, F>(desk: &Arc<dyn ApprovalDesk>, call: F) -> Result<T, DeskError>
where
    T: Send + 'static,
    F: FnOnce(&dyn ApprovalDesk) -> Result<T, DeskError> + Send + 'static,
{
    let desk = Arc::clone(desk);
    tokio::task::spawn_blocking(move || call(desk.as_ref()))
        .await
        .unwrap_or_else(|e| Err(DeskError::Store(format!("desk call failed: {e}"))))
}

pub async fn list(desk: &Arc<dyn ApprovalDesk>, only_pending: bool) -> Response<WebBody> {
    match on_desk(desk, move |d| d.list(only_pending)).await {
        Ok(approvals) => json(StatusCode::OK, &approvals),
        Err(error) => desk_error(&error),
    }
}

pub async fn show(desk: &Arc<dyn ApprovalDesk>, id: String) -> Response<WebBody> {
    match on_desk(desk, move |d| d.show(&id)).await {
        Ok(approval) => json(StatusCode::OK, &approval),
        Err(error) => desk_error(&error),
    }
}

pub async fn decide(
    desk: &Arc<dyn ApprovalDesk>,
    id: String,
    verdict: Verdict,
    body: Incoming,
) -> Response<WebBody> {
    let form = match read_form(body).await {
        Ok(form) => form,
        Err(response) => return *response,
    };
    let by = clean(form.by.as_deref().unwrap_or(""), BY_MAX_CHARS, false);
    let by = if by.is_empty() {
        DEFAULT_BY.to_owned()
    } else {
        by
    };
    let reason = form
        .reason
        .map(|r| clean(&r, REASON_MAX_CHARS, true))
        .filter(|r| !r.is_empty());
    let log_id = id.clone();
    let decided = on_desk(desk, move |d| {
        d.decide(&id, verdict, &by, VIA, reason.as_deref())
    })
    .await;
    // A decision is logged by the desk that records it.
    match decided {
        Ok(approval) => json(StatusCode::OK, &approval),
        Err(error) => {
            tracing::info!(id = %log_id, verdict = ?verdict, %error, "approval decision refused");
            desk_error(&error)
        }
    }
}

async fn read_form(body: Incoming) -> Result<DecisionForm, Box<Response<WebBody>>> {
    let bytes: Bytes = match Limited::new(body, DECISION_BODY_MAX).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Err(Box::new(error_json(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the decision body is limited to 16 KiB",
            )));
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(DecisionForm::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        Box::new(error_json(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &format!("expected {{\"by\": …, \"reason\": …}}: {e}"),
        ))
    })
}

/// Trimmed, at most `max` characters, without control characters (line
/// breaks kept in a reason only).
fn clean(text: &str, max: usize, keep_newlines: bool) -> String {
    text.trim()
        .chars()
        .filter(|c| !c.is_control() || (keep_newlines && *c == '\n'))
        .take(max)
        .collect()
}

fn desk_error(error: &DeskError) -> Response<WebBody> {
    let (status, code) = match error {
        DeskError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        DeskError::AlreadyDecided { .. } => (StatusCode::CONFLICT, "already_decided"),
        DeskError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "store"),
    };
    if matches!(error, DeskError::Store(_)) {
        tracing::warn!(%error, "approvals store failed a web page request");
    }
    error_json(status, code, &error.to_string())
}

/// An approval id as it may appear in a path: short, URL-safe.
#[must_use]
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
