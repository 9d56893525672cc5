//! One intercepted HTTP request: which host it is for, what the agent's
//! policy says, and either the gateway's own answer or the upstream's.

use std::{convert::Infallible, sync::Arc};

use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Uri, Version, header};
use hyper::{body::Incoming, upgrade::OnUpgrade};

use super::{
    ConnContext,
    answer::{ErrorBody, json},
    body::{ProxyBody, discard, read_prefix, stream},
    upstream::{UpstreamKind, is_certificate_error},
    websocket,
};
use crate::{
    audit::{AuditEvent, AuditKind},
    credentials::{Exfiltration, Injected, Target},
    policy::{Action, BODY_PREFIX_MAX, Decision, RequestFacts},
};

/// How much of a refused request's body is read (and dropped) so that
/// the agent reliably gets the refusal.
const DISCARD_LIMIT: usize = 1024 * 1024;
const DISCARD_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Headers that describe one hop, not the request: never forwarded.
const HOP_BY_HOP: [header::HeaderName; 7] = [
    header::CONNECTION,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

pub async fn handle(
    conn: Arc<ConnContext>,
    mut request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let id = conn.next_request_id();
    let agent = conn.agent();
    let host = match request_host(&conn, &request) {
        Ok(host) => host,
        Err(message) => {
            tracing::warn!(agent = %agent.name, client = %conn.client, request_id = %id, %message, "request refused");
            return Ok(gateway_answer(
                StatusCode::MISDIRECTED_REQUEST,
                "misdirected",
                message,
                None,
                &id,
            ));
        }
    };
    let upgrade = websocket::is_upgrade(&request).then(|| hyper::upgrade::on(&mut request));
    let policy = agent.policy();
    let credentials = &conn.interceptor.credentials;
    let (mut parts, body) = request.into_parts();
    // With secrets in the vault, the first part of every body is looked
    // at for placeholders before anything is forwarded.
    let (prefix, body) = if policy.needs_body() || credentials.active() {
        match read_prefix(body, BODY_PREFIX_MAX).await {
            Ok((prefix, body)) => (Some(prefix), body),
            Err(error) => {
                tracing::debug!(request_id = %id, %error, "reading the request body failed");
                return Ok(upstream_failure(&id, &*error, &Injected::none()));
            }
        }
    } else {
        (None, stream(body))
    };
    let decision = policy.decide_request(&RequestFacts {
        host: &host,
        port: conn.dst.0.port(),
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body_prefix: prefix.as_deref(),
    });
    let (method, path) = (parts.method.as_str(), parts.uri.path());
    let rule = decision.rule.as_ref();
    let target = Target {
        agent: agent.name.clone(),
        host: host.clone(),
        tls: conn.tls,
        request_id: id.clone(),
    };
    match decision.action {
        Action::Allow => {
            // Debug, not info: one line per request was the largest single
            // cost of a keep-alive request; the audit log records them.
            tracing::debug!(agent = %agent.name, method, host, path, rule, request_id = %id, "request allowed");
            let event = request_event(&conn, AuditKind::Allowed, &parts, &host, &decision, &id);
            conn.interceptor.audit.record(event);
        }
        Action::Deny => {
            tracing::info!(agent = %agent.name, method, host, path, rule, request_id = %id, "request denied");
            // Recorded if the refused request also carried a placeholder
            // where it may not go; the answer is the policy's either way.
            let _ = credentials.check(&parts, prefix.as_deref(), &target);
            let event = request_event(&conn, AuditKind::Denied, &parts, &host, &decision, &id);
            conn.interceptor.audit.record(event);
            discard(body, DISCARD_LIMIT, DISCARD_WAIT).await;
            let message = format!(
                "the gateway's policy for agent {} denies this request",
                agent.name
            );
            return Ok(gateway_answer(
                StatusCode::FORBIDDEN,
                "denied",
                message,
                Some(&decision),
                &id,
            ));
        }
        Action::Approve => {
            tracing::info!(agent = %agent.name, method, host, path, rule, request_id = %id, "request needs approval");
            let answer =
                super::approval::handle(&conn, &host, parts, body, upgrade, &decision, target);
            return Ok(answer.await);
        }
    }
    // After the decision, just before forwarding: placeholders become
    // secrets where bound, and anything else is blocked.
    let injected = match credentials.inject(&mut parts, prefix.as_deref(), &target) {
        Ok(injected) => injected,
        Err(attempt) => {
            drop(parts);
            discard(body, DISCARD_LIMIT, DISCARD_WAIT).await;
            return Ok(exfiltration_answer(&attempt, &id));
        }
    };
    let body = credentials.guard_body(body, target);
    let request = Request::from_parts(parts, body);
    Ok(forward(&conn, &host, request, upgrade, id, &injected).await)
}

/// The agent's answer to a request that carried a placeholder where it
/// may not go: it names the secret, never its value.
pub(super) fn exfiltration_answer(attempt: &Exfiltration, id: &str) -> Response<ProxyBody> {
    gateway_answer(
        StatusCode::FORBIDDEN,
        "exfiltration_blocked",
        attempt.message(),
        None,
        id,
    )
}

/// The audit event of a decision on this request; recorded with
/// `AuditLog::record`, which hands it to the writer (no disk here).
pub(super) fn request_event(
    conn: &ConnContext,
    kind: AuditKind,
    parts: &http::request::Parts,
    host: &str,
    decision: &Decision,
    id: &str,
) -> AuditEvent {
    let mut event = AuditEvent::new(kind);
    event.agent = Some(conn.agent().name.to_string());
    event.method = Some(parts.method.as_str().to_owned());
    event.host = Some(host.to_owned());
    event.path = Some(parts.uri.path().to_owned());
    event.rule = Some(decision.rule.to_string());
    event.request_id = Some(id.to_owned());
    event
}

/// Sends an allowed request upstream and passes the answer back.
pub(super) async fn forward(
    conn: &ConnContext,
    host: &str,
    request: Request<ProxyBody>,
    upgrade: Option<OnUpgrade>,
    id: String,
    injected: &Injected,
) -> Response<ProxyBody> {
    let (mut parts, body) = request.into_parts();
    let kind = if upgrade.is_some() || parts.version != Version::HTTP_2 {
        UpstreamKind::Http1
    } else {
        UpstreamKind::AnyVersion
    };
    parts.uri = match upstream_uri(conn, host, &parts.uri) {
        Ok(uri) => uri,
        Err(message) => {
            return gateway_answer(StatusCode::BAD_REQUEST, "bad_request", message, None, &id);
        }
    };
    parts.version = Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers, upgrade.is_some());
    if upgrade.is_some() && !injected.is_empty() {
        // No compression or other extension: the gateway reads the
        // upstream's frames to keep the secret out of them.
        parts.headers.remove("sec-websocket-extensions");
    }
    if let Some(authority) = parts.uri.authority()
        && let Ok(value) = HeaderValue::from_str(authority.as_str())
    {
        parts.headers.insert(header::HOST, value);
    }
    match conn
        .interceptor
        .upstream
        .send(Request::from_parts(parts, body), kind)
        .await
    {
        Ok(mut response) => {
            if let Some(client_upgrade) = upgrade
                && response.status() == StatusCode::SWITCHING_PROTOCOLS
            {
                if !injected.is_empty() && !websocket::is_websocket(response.headers()) {
                    let message = "the upstream switched to a protocol other than WebSocket after a request that carried a secret; the gateway cannot check that stream for the secret and does not relay it".to_owned();
                    return gateway_answer(
                        StatusCode::BAD_GATEWAY,
                        "upstream_upgrade",
                        message,
                        None,
                        &id,
                    );
                }
                let upstream_upgrade = hyper::upgrade::on(&mut response);
                websocket::splice(
                    client_upgrade,
                    upstream_upgrade,
                    id.clone(),
                    injected.clone(),
                );
                let (parts, _) = response.into_parts();
                return redacted(
                    Response::from_parts(parts, super::body::full("")),
                    injected,
                    &id,
                );
            }
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers, false);
            redacted(Response::from_parts(parts, stream(body)), injected, &id)
        }
        Err(error) if crate::credentials::stopped_body(&error) => {
            // Recorded by the body guard when it stopped the body.
            let message = "the request body carried a credential placeholder; the gateway stopped the request and recorded it as an exfiltration attempt".to_owned();
            gateway_answer(
                StatusCode::FORBIDDEN,
                "exfiltration_blocked",
                message,
                None,
                &id,
            )
        }
        Err(error) => {
            let error_text = injected.redact_str(&error_chain(&error));
            tracing::warn!(agent = %conn.agent().name, host, request_id = %id, error = %error_text, "upstream request failed");
            upstream_failure(&id, &error, injected)
        }
    }
}

/// The upstream's response with any secret the request carried taken out.
fn redacted(response: Response<ProxyBody>, injected: &Injected, id: &str) -> Response<ProxyBody> {
    match injected.redact_response(response) {
        Ok(response) => response,
        Err(refused) => {
            tracing::warn!(request_id = %id, error = %refused, "upstream response refused");
            gateway_answer(
                StatusCode::BAD_GATEWAY,
                "upstream_encoded",
                refused.to_string(),
                None,
                id,
            )
        }
    }
}

pub(super) fn gateway_answer(
    status: StatusCode,
    error: &str,
    message: String,
    decision: Option<&Decision>,
    id: &str,
) -> Response<ProxyBody> {
    json(
        status,
        &ErrorBody {
            error,
            message,
            rule: decision.map(|d| d.rule.as_ref()),
            reason: decision.and_then(|d| d.reason.as_deref()),
            request_id: id,
        },
    )
}

/// The host the request is for: the TLS server name when there is one
/// (and the Host header must agree: anything else is domain fronting),
/// else the Host header or the absolute URI.
fn request_host(conn: &ConnContext, request: &Request<Incoming>) -> Result<String, String> {
    let from_request = request
        .uri()
        .host()
        .map(str::to_owned)
        .or_else(|| {
            request
                .headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .and_then(|h| h.parse::<http::uri::Authority>().ok())
                .map(|a| a.host().to_owned())
        })
        .map(|h| normalise_host(&h));
    // Without SNI (a TLS client that connected to an address) the Host
    // header names the upstream; the gateway resolves it itself.
    match (&conn.server_name, from_request) {
        (Some(sni), Some(host)) if *sni == host => Ok(host),
        (Some(sni), Some(host)) => Err(format!(
            "the request is for host {host:?} but the TLS connection is for {sni:?}; the gateway refuses mismatched names"
        )),
        (Some(sni), None) => Ok(sni.clone()),
        (None, Some(host)) => Ok(host),
        // HTTP/1.0 without a Host header: the address the agent dialled.
        (None, None) => Ok(normalise_host(&conn.dst.0.ip().to_string())),
    }
}

pub fn normalise_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

fn upstream_uri(conn: &ConnContext, host: &str, uri: &Uri) -> Result<Uri, String> {
    let scheme = if conn.tls { "https" } else { "http" };
    let port = conn.dst.0.port();
    let default_port = if scheme == "https" { 443 } else { 80 };
    let host_part = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let authority = if port == default_port {
        host_part
    } else {
        format!("{host_part}:{port}")
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    format!("{scheme}://{authority}{path}")
        .parse()
        .map_err(|e| format!("cannot build the upstream URI: {e}"))
}

fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let listed: Vec<header::HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| name.trim().parse().ok())
        .collect();
    for name in HOP_BY_HOP.iter().chain(&listed) {
        if keep_upgrade && (name == header::UPGRADE || name == header::CONNECTION) {
            continue;
        }
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

pub(super) fn upstream_failure(
    id: &str,
    error: &(dyn std::error::Error + 'static),
    injected: &Injected,
) -> Response<ProxyBody> {
    let (code, message) = if is_certificate_error(error) {
        (
            "upstream_certificate",
            format!(
                "the upstream's TLS certificate failed verification: {}",
                injected.redact_str(&error_chain(error))
            ),
        )
    } else {
        (
            "upstream_error",
            format!(
                "the upstream could not be reached: {}",
                injected.redact_str(&error_chain(error))
            ),
        )
    };
    gateway_answer(StatusCode::BAD_GATEWAY, code, message, None, id)
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let next = e.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = e.source();
    }
    text
}
