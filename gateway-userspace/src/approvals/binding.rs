//! What an approval is bound to: the exact request. The binding is a
//! SHA-256 over the agent, method, scheme, host, port, path and query and
//! the SHA-256 of the whole body, each length-prefixed so no two requests
//! share an encoding. Approving it approves those bytes; a changed body or
//! URL is another request and needs its own approval.
//!
//! Headers are left out on purpose: clients vary them between retries
//! (dates, trace ids, user agents), and credentials are injected or
//! redacted anyway. A person approving a request sees the headers, but a
//! retry with other header values is the same approval.

use sha2::{Digest as _, Sha256};

use crate::hex;

/// The parts of a request an approval covers.
#[derive(Debug, Clone, Copy)]
pub struct BoundRequest<'a> {
    pub agent: &'a str,
    pub method: &'a str,
    pub scheme: &'a str,
    pub host: &'a str,
    pub port: u16,
    pub path_and_query: &'a str,
    /// Hex SHA-256 of the whole body.
    pub body_sha256: &'a str,
}

/// The binding of `request`, as hex.
#[must_use]
pub fn binding(request: &BoundRequest<'_>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"gateway-approval-binding-v1");
    for field in [
        request.agent,
        request.method,
        request.scheme,
        request.host,
        &request.port.to_string(),
        request.path_and_query,
        request.body_sha256,
    ] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hex::encode(&hasher.finalize())
}

#[must_use]
pub fn body_sha256(body: &[u8]) -> String {
    hex::encode(&Sha256::digest(body))
}

#[cfg(test)]
mod tests {
    use super::{BoundRequest, binding, body_sha256};

    #[test]
    fn any_changed_part_changes_the_binding() {
        let body = body_sha256(b"{\"amount\": 10}");
        let base = BoundRequest {
            agent: "agent",
            method: "POST",
            scheme: "https",
            host: "api.example.com",
            port: 443,
            path_and_query: "/pay?to=alice",
            body_sha256: &body,
        };
        let other_body = body_sha256(b"{\"amount\": 1000}");
        let variants = [
            BoundRequest {
                agent: "other",
                ..base
            },
            BoundRequest {
                method: "PUT",
                ..base
            },
            BoundRequest {
                scheme: "http",
                ..base
            },
            BoundRequest {
                host: "api.example.org",
                ..base
            },
            BoundRequest { port: 8443, ..base },
            BoundRequest {
                path_and_query: "/pay?to=mallory",
                ..base
            },
            BoundRequest {
                body_sha256: &other_body,
                ..base
            },
        ];
        let original = binding(&base);
        assert_eq!(original, binding(&base), "stable");
        for variant in variants {
            assert_ne!(binding(&variant), original, "{variant:?}");
        }
    }

    #[test]
    fn fields_cannot_slide_into_each_other() {
        let body = body_sha256(b"");
        let a = BoundRequest {
            agent: "ag",
            method: "entGET",
            scheme: "https",
            host: "h",
            port: 1,
            path_and_query: "/",
            body_sha256: &body,
        };
        let b = BoundRequest {
            agent: "agent",
            method: "GET",
            ..a
        };
        assert_ne!(binding(&a), binding(&b));
    }
}
