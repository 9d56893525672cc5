//! Responses the gateway gives itself: a small JSON body an agent can read
//! and act on (`error`, `message`, `rule`, `request_id`).

use http::{Response, StatusCode, header};
use serde::Serialize;

use super::body::{ProxyBody, full};

#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    /// A stable, machine-readable code: `denied`, `approval_required`,
    /// `misdirected`, `upstream_error`, `upstream_certificate`,
    /// `exfiltration_blocked` (a credential placeholder where it may not
    /// go), `upstream_encoded` (a compressed answer to a request that
    /// carried a secret).
    pub error: &'a str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    pub request_id: &'a str,
}

pub fn json(status: StatusCode, body: &ErrorBody<'_>) -> Response<ProxyBody> {
    let text = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .header("x-gateway-request-id", body.request_id)
        .body(full(text))
        .unwrap_or_else(|_| Response::new(full("")))
}

/// A JSON answer of any shape (approval answers carry more fields).
pub fn json_of<T: Serialize>(
    status: StatusCode,
    request_id: &str,
    body: &T,
) -> Response<ProxyBody> {
    let text = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .header("x-gateway-request-id", request_id)
        .body(full(text))
        .unwrap_or_else(|_| Response::new(full("")))
}
