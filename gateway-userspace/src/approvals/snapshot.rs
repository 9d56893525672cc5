//! What is kept of a request waiting for approval: enough for a person to
//! judge it (headers with credentials redacted, a readable start of the
//! body) and the hash that binds the approval to the whole body. The body
//! itself is never stored.

use http::HeaderMap;

use super::binding::{BoundRequest, binding, body_sha256};

/// How much of the body a person sees.
pub const PREVIEW_BYTES: usize = 2048;
pub const REDACTED: &str = "[redacted]";

/// Header names (lowercase) whose values are credentials or may be.
const SECRET_NAME_PARTS: [&str; 10] = [
    "auth",
    "cookie",
    "token",
    "secret",
    "key",
    "session",
    "password",
    "passwd",
    "signature",
    "credential",
];

/// A request that needs approval, as it will be stored.
#[derive(Debug, Clone)]
pub struct NewApproval {
    pub agent: String,
    pub method: String,
    pub scheme: String,
    pub host: String,
    pub port: u16,
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body_preview: String,
    pub body_len: u64,
    pub body_sha256: String,
    pub rule: String,
    pub reason: String,
    /// The request that asked first (for the audit log).
    pub request_id: String,
}

/// The request's facts as seen by the proxy.
pub struct RequestSnapshot<'a> {
    pub agent: &'a str,
    pub method: &'a str,
    pub scheme: &'a str,
    pub host: &'a str,
    pub port: u16,
    pub path_and_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub rule: &'a str,
    pub reason: &'a str,
    pub request_id: &'a str,
}

impl NewApproval {
    #[must_use]
    pub fn new(request: &RequestSnapshot<'_>) -> Self {
        Self {
            agent: request.agent.to_owned(),
            method: request.method.to_owned(),
            scheme: request.scheme.to_owned(),
            host: request.host.to_owned(),
            port: request.port,
            path_and_query: request.path_and_query.to_owned(),
            headers: redact_headers(request.headers),
            body_preview: preview(request.body),
            body_len: request.body.len() as u64,
            body_sha256: body_sha256(request.body),
            rule: request.rule.to_owned(),
            reason: request.reason.to_owned(),
            request_id: request.request_id.to_owned(),
        }
    }

    #[must_use]
    pub fn binding(&self) -> String {
        binding(&BoundRequest {
            agent: &self.agent,
            method: &self.method,
            scheme: &self.scheme,
            host: &self.host,
            port: self.port,
            path_and_query: &self.path_and_query,
            body_sha256: &self.body_sha256,
        })
    }
}

/// The headers in order, credential values replaced by [`REDACTED`].
#[must_use]
pub fn redact_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let name = name.as_str();
            let value = if is_secret_header(name) {
                REDACTED.to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.to_owned(), value)
        })
        .collect()
}

#[must_use]
pub fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_NAME_PARTS.iter().any(|part| name.contains(part))
}

/// The first [`PREVIEW_BYTES`] of the body as text (invalid UTF-8
/// replaced), cut at a character boundary.
#[must_use]
pub fn preview(body: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(&body[..body.len().min(PREVIEW_BYTES)]).into_owned();
    if body.len() > PREVIEW_BYTES {
        // The cut may split a character; its replacement char is dropped.
        if text.ends_with('\u{fffd}') {
            text.pop();
        }
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};

    use super::{REDACTED, preview, redact_headers};

    #[test]
    fn credentials_are_redacted_and_the_rest_kept_in_order() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("content-type", "application/json"),
            ("authorization", "Bearer sk-live-123"),
            ("cookie", "sid=abc"),
            ("x-api-key", "k-123"),
            ("proxy-authorization", "Basic eA=="),
            ("x-goog-api-key", "g-1"),
            ("x-auth-token", "t-1"),
            ("accept", "*/*"),
        ] {
            headers.append(name, HeaderValue::from_static(value));
        }
        let redacted = redact_headers(&headers);
        let text = format!("{redacted:?}");
        for secret in ["sk-live-123", "sid=abc", "k-123", "eA==", "g-1", "t-1"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert_eq!(
            redacted[0],
            ("content-type".into(), "application/json".into())
        );
        assert_eq!(redacted[1], ("authorization".into(), REDACTED.into()));
        assert_eq!(redacted.last().unwrap(), &("accept".into(), "*/*".into()));
    }

    #[test]
    fn the_preview_is_short_and_readable() {
        assert_eq!(preview(b"{\"a\":1}"), "{\"a\":1}");
        let long = "é".repeat(3000);
        let shown = preview(long.as_bytes());
        assert!(shown.len() <= super::PREVIEW_BYTES + 4);
        assert!(shown.ends_with('…') && !shown.contains('\u{fffd}'));
    }
}
