//! Where placeholders sit in a request: the host, the path and each query
//! parameter (raw and percent-decoded), each header value, the password of
//! Basic auth (decoded), the body and its trailers.

use std::{borrow::Cow, fmt};

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use http::{header, request::Parts};
use percent_encoding::percent_decode_str;

use crate::vault::Placeholder;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Host,
    Path,
    Query { key: String },
    Header { name: String },
    BasicAuth { user: String },
    Body,
    Trailer { name: String },
    DnsName,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Host => f.write_str("host name"),
            Self::Path => f.write_str("path"),
            Self::Query { key } => write!(f, "query parameter {key}"),
            Self::Header { name } => write!(f, "header {name}"),
            Self::BasicAuth { user } => write!(f, "basic-auth password of user {user}"),
            Self::Body => f.write_str("body"),
            Self::Trailer { name } => write!(f, "trailer {name}"),
            Self::DnsName => f.write_str("DNS name"),
        }
    }
}

/// Every placeholder in the request's host, URI and headers, with where.
/// Runs on every request while the vault has records: nothing is
/// allocated (no place named, nothing decoded) until something is found.
pub fn scan_request(parts: &Parts, host: &str) -> Vec<(Placeholder, Place)> {
    let mut found = Vec::new();
    let mut add = |text: &[u8], place: &dyn Fn() -> Place| {
        for (_, placeholder) in Placeholder::find_all(text) {
            let hit = (placeholder, place());
            if !found.contains(&hit) {
                found.push(hit);
            }
        }
    };
    add(host.as_bytes(), &|| Place::Host);
    let path = parts.uri.path();
    add(path.as_bytes(), &|| Place::Path);
    add(&decoded(path), &|| Place::Path);
    if let Some(query) = parts.uri.query() {
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let place = || Place::Query {
                key: String::from_utf8_lossy(&decoded(key)).into_owned(),
            };
            for text in [pair.as_bytes(), &decoded(key), &decoded(value)] {
                add(text, &place);
            }
        }
    }
    for (name, value) in &parts.headers {
        add(value.as_bytes(), &|| Place::Header {
            name: name.as_str().to_owned(),
        });
        if name == header::AUTHORIZATION
            && let Some((user, password)) = basic_credentials(value.as_bytes())
        {
            add(password.as_bytes(), &|| Place::BasicAuth {
                user: user.clone(),
            });
        }
    }
    found
}

/// Placeholders in a piece of a body.
pub fn scan_body(bytes: &[u8]) -> Vec<(Placeholder, Place)> {
    let mut found: Vec<(Placeholder, Place)> = Vec::new();
    for (_, placeholder) in Placeholder::find_all(bytes) {
        if !found.iter().any(|(p, _)| *p == placeholder) {
            found.push((placeholder, Place::Body));
        }
    }
    found
}

/// Placeholders in the trailers after a body (no position binds a secret
/// there).
pub fn scan_trailers(trailers: &http::HeaderMap) -> Vec<(Placeholder, Place)> {
    let mut found: Vec<(Placeholder, Place)> = Vec::new();
    for (name, value) in trailers {
        for (_, placeholder) in Placeholder::find_all(value.as_bytes()) {
            if !found.iter().any(|(p, _)| *p == placeholder) {
                let name = name.as_str().to_owned();
                found.push((placeholder, Place::Trailer { name }));
            }
        }
    }
    found
}

/// `(user, password)` of an `Authorization: Basic …` value.
pub fn basic_credentials(value: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = BASE64.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// `text` percent-decoded; borrowed when there is nothing to decode.
fn decoded(text: &str) -> Cow<'_, [u8]> {
    Cow::from(percent_decode_str(text))
}
