//! An HTTP request as the policy sees it.

use std::{borrow::Cow, cell::OnceCell, net::IpAddr};

use serde_json::Value;

use super::{
    body::{self, BodyProblem},
    path::{RequestPath, normalize},
};

/// What the proxy knows about one request when it decides.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// Lowercase host name or IP literal, no port, no trailing dot.
    pub host: &'a str,
    pub port: u16,
    /// As sent; compared case-insensitively.
    pub method: &'a str,
    /// Path only, percent-encoded as sent, no query.
    pub path: &'a str,
    /// Raw query string, without the `?`.
    pub query: Option<&'a str>,
    pub headers: &'a http::HeaderMap,
    /// The first [`BODY_PREFIX_MAX`](super::BODY_PREFIX_MAX) bytes of the
    /// body, when the policy [needs them](super::Policy::needs_body).
    pub body_prefix: Option<&'a [u8]>,
}

/// The request's host: a name or an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestHost<'a> {
    Name(Cow<'a, str>),
    Ip(IpAddr),
}

impl<'a> RequestHost<'a> {
    /// Reads a host the way rules compare it: addresses canonical (a
    /// v4-mapped IPv6 address is the IPv4 one), names in lower case
    /// without a trailing dot. The proxy should already pass them so;
    /// this keeps a slip there from opening a rule.
    #[must_use]
    pub fn new(host: &'a str) -> Self {
        let unbracketed = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Self::Ip(ip.to_canonical());
        }
        let name = host.strip_suffix('.').unwrap_or(host);
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Self::Name(Cow::Owned(name.to_ascii_lowercase()))
        } else {
            Self::Name(Cow::Borrowed(name))
        }
    }
}

impl std::fmt::Display for RequestHost<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Name(name) => f.write_str(name),
            Self::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// One request being decided: the facts, normalised once, and the query
/// and body parsed on first use (most rules never look at them).
pub struct Request<'a> {
    pub facts: &'a RequestFacts<'a>,
    pub host: RequestHost<'a>,
    pub path: RequestPath<'a>,
    query: OnceCell<Vec<(Cow<'a, str>, Cow<'a, str>)>>,
    body: OnceCell<Result<Value, BodyProblem>>,
}

impl<'a> Request<'a> {
    #[must_use]
    pub fn new(facts: &'a RequestFacts<'a>) -> Self {
        Self {
            facts,
            host: RequestHost::new(facts.host),
            path: normalize(facts.path),
            query: OnceCell::new(),
            body: OnceCell::new(),
        }
    }

    /// The decoded values of query parameter `key`, in order.
    pub fn query_values(&self, key: &str) -> impl Iterator<Item = &str> {
        let pairs = self.query.get_or_init(|| {
            self.facts
                .query
                .map(|q| url::form_urlencoded::parse(q.as_bytes()).collect())
                .unwrap_or_default()
        });
        pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| &**v)
    }

    pub fn body(&self) -> Result<&Value, &BodyProblem> {
        self.body
            .get_or_init(|| body::parse(self.facts.body_prefix))
            .as_ref()
    }
}
