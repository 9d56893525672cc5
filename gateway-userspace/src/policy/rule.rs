//! A compiled rule and how it matches.
//!
//! Matching is written once, generic over an [`Observer`]: deciding uses
//! `()`, which compiles to nothing, and explaining records every check.
//! So an explanation cannot disagree with the decision it explains.

use std::{fmt, net::SocketAddr, path::Path, sync::Arc};

use http::HeaderName;

use super::{
    Action,
    body::{FieldPath, render},
    glob::{PathGlob, ValueGlob},
    pattern::{HostPattern, PortRange},
    request::Request,
};

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: Arc<str>,
    pub action: Action,
    /// Shown to the approver, and in the decision.
    pub reason: Option<Arc<str>>,
    pub origin: RuleOrigin,
    pub hosts: Vec<HostPattern>,
    /// `None`: any port.
    pub ports: Option<Vec<PortRange>>,
    /// `None`: not an HTTP rule, so it also matches raw TCP.
    pub http: Option<HttpConditions>,
}

/// Where a rule was written, for explanations.
#[derive(Debug, Clone)]
pub struct RuleOrigin {
    pub file: Arc<Path>,
    pub line: usize,
    /// The pack it comes from, if any.
    pub pack: Option<Arc<str>>,
}

impl fmt::Display for RuleOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)?;
        if let Some(pack) = &self.pack {
            write!(f, ", pack {pack}")?;
        }
        Ok(())
    }
}

/// The conditions only an HTTP request has. Every one given must hold.
#[derive(Debug, Clone, Default)]
pub struct HttpConditions {
    /// Upper case. `None`: any method.
    pub methods: Option<Box<[Box<str>]>>,
    /// `None`: any path.
    pub paths: Option<Box<[PathGlob]>>,
    pub query: Box<[(Box<str>, ValueGlob)]>,
    pub headers: Box<[(HeaderName, ValueGlob)]>,
    pub body: Box<[(FieldPath, ValueGlob)]>,
}

/// What a rule checks, in the order it checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Host,
    Port,
    Method,
    Path,
    Query,
    Header,
    Body,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that explanations can align it.
        f.pad(match self {
            Self::Host => "host",
            Self::Port => "port",
            Self::Method => "method",
            Self::Path => "path",
            Self::Query => "query",
            Self::Header => "header",
            Self::Body => "body",
        })
    }
}

/// Told the outcome of each check; `detail` is only called by observers
/// that keep it, so deciding never formats a string.
pub trait Observer {
    fn check(&mut self, condition: Condition, passed: bool, detail: impl FnOnce() -> String);
}

impl Observer for () {
    #[inline]
    fn check(&mut self, _: Condition, _: bool, _: impl FnOnce() -> String) {}
}

impl Rule {
    /// Whether the rule matches a raw TCP connection: only rules without
    /// HTTP conditions can, and only through their addresses.
    #[must_use]
    pub fn matches_connection(&self, dst: SocketAddr) -> bool {
        self.http.is_none()
            && self.port_matches(dst.port())
            && self.hosts.iter().any(|h| h.matches_ip(dst.ip()))
    }

    /// Whether the rule matches an HTTP request; checks stop at the first
    /// that fails.
    pub fn matches_request(&self, req: &Request<'_>, observer: &mut impl Observer) -> bool {
        let host = self.hosts.iter().find(|h| h.matches_host(&req.host));
        observer.check(Condition::Host, host.is_some(), || match host {
            Some(pattern) => format!("{} matches {pattern}", req.host),
            None => format!("{} is not {}", req.host, or_list(&self.hosts)),
        });
        if host.is_none() {
            return false;
        }
        if let Some(ports) = &self.ports {
            let port = req.facts.port;
            let passed = self.port_matches(port);
            observer.check(Condition::Port, passed, || {
                let verb = if passed { "is" } else { "is not" };
                format!("{port} {verb} {}", or_list(ports))
            });
            if !passed {
                return false;
            }
        }
        self.http
            .as_ref()
            .is_none_or(|http| http.matches(req, observer))
    }

    fn port_matches(&self, port: u16) -> bool {
        self.ports
            .as_ref()
            .is_none_or(|ports| ports.iter().any(|p| p.contains(port)))
    }
}

impl HttpConditions {
    fn matches(&self, req: &Request<'_>, observer: &mut impl Observer) -> bool {
        let method = req.facts.method;
        if let Some(methods) = &self.methods {
            let passed = methods.iter().any(|m| m.eq_ignore_ascii_case(method));
            observer.check(Condition::Method, passed, || {
                let verb = if passed { "is" } else { "is not" };
                format!("{method} {verb} {}", or_list(methods))
            });
            if !passed {
                return false;
            }
        }
        if let Some(paths) = &self.paths {
            let glob = paths.iter().find(|g| g.matches(&req.path));
            observer.check(Condition::Path, glob.is_some(), || match glob {
                Some(glob) => format!("{} matches {glob}", req.path),
                None => format!("{} does not match {}", req.path, or_list(paths)),
            });
            if glob.is_none() {
                return false;
            }
        }
        self.query.iter().all(|(key, glob)| {
            let verdict = all_match(req.query_values(key), glob);
            observer.check(Condition::Query, verdict.passed(), || {
                verdict.describe(key, glob)
            });
            verdict.passed()
        }) && self.headers.iter().all(|(name, glob)| {
            // A value that is not text reads as U+FFFD: only a glob that
            // takes anything (`*`, "present") accepts it.
            let values = req
                .facts
                .headers
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap_or("\u{fffd}"));
            let verdict = all_match(values, glob);
            observer.check(Condition::Header, verdict.passed(), || {
                verdict.describe(name.as_str(), glob)
            });
            verdict.passed()
        }) && self.body.iter().all(|(field, glob)| {
            let value = req.body().map(|body| field.find(body).map(render));
            let passed = matches!(&value, Ok(Some(v)) if glob.matches(v));
            observer.check(Condition::Body, passed, || match &value {
                Err(problem) => format!("field {field}: {problem}"),
                Ok(None) => format!("field {field} is missing"),
                Ok(Some(v)) => {
                    let verb = if passed { "matches" } else { "does not match" };
                    format!("field {field} = {v:?} {verb} {glob}")
                }
            });
            passed
        })
    }
}

/// The outcome of a query or header condition.
enum Verdict<'v> {
    Missing,
    /// Every value matched; the first of them.
    Matched(&'v str),
    /// This value did not match.
    Mismatch(&'v str),
}

impl Verdict<'_> {
    fn passed(&self) -> bool {
        matches!(self, Self::Matched(_))
    }

    fn describe(&self, what: &str, glob: &ValueGlob) -> String {
        match self {
            Self::Missing => format!("{what} is missing"),
            Self::Matched(value) => format!("{what} = {value:?} matches {glob}"),
            Self::Mismatch(value) => format!("{what} = {value:?} does not match {glob}"),
        }
    }
}

/// A parameter or header given twice must match both times: servers
/// differ on which one they use, so `?state=open&state=all` must not pass
/// a rule asking for `state = "open"`.
fn all_match<'v>(mut values: impl Iterator<Item = &'v str>, glob: &ValueGlob) -> Verdict<'v> {
    let Some(first) = values.next() else {
        return Verdict::Missing;
    };
    match std::iter::once(first)
        .chain(values)
        .find(|v| !glob.matches(v))
    {
        Some(bad) => Verdict::Mismatch(bad),
        None => Verdict::Matched(first),
    }
}

/// `a`, `a or b`, `one of a, b, c`.
fn or_list<T: fmt::Display>(items: &[T]) -> String {
    match items {
        [] => "in the (empty) list".to_owned(),
        [one] => one.to_string(),
        many => {
            let joined: Vec<String> = many.iter().map(ToString::to_string).collect();
            format!("one of {}", joined.join(", "))
        }
    }
}
