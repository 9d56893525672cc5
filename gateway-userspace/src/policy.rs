//! Per-agent policy: which connections and HTTP requests an agent may make.
//!
//! Rules are tried in file order and the first match decides; when none
//! matches, the request is denied (rule `default`). First-match is the
//! precedence that firewalls use, and the one a reader can check by eye.
//! Packs expand in place, so they take part in the same order.
//!
//! A rule with methods, paths, query, headers or body conditions is an
//! HTTP rule and never matches a raw TCP connection, which has none of
//! them. Raw connections carry no host name either, so they match only
//! rules' addresses and CIDR blocks.

mod body;
mod explain;
mod glob;
mod index;
mod pack;
mod parse;
mod path;
mod pattern;
mod request;
mod rule;
mod sources;
pub mod store;
mod syntax;

use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
};

pub use self::{
    explain::{Explanation, Outcome, RuleTrace},
    request::RequestFacts,
};
use self::{
    index::RuleIndex,
    request::{Request, RequestHost},
    rule::Rule,
    sources::{FileState, Sources},
};

/// How much of a body rules may look at. The proxy reads this much before
/// deciding when [`Policy::needs_body`]; a longer body fails every body
/// condition.
pub const BODY_PREFIX_MAX: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("reading policy {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("policy {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("policy {path}: line {line}, column {column}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A pack the policy uses is wrong; `source` says where in the pack.
    #[error("policy {path}: line {line}, column {column}: pack {pack:?}: {source}")]
    Pack {
        path: PathBuf,
        line: usize,
        column: usize,
        pack: String,
        source: Box<PolicyError>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Allow,
    Deny,
    /// Hold the request until a human allows or denies it.
    Approve,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Approve => "approve",
        })
    }
}

/// The outcome for one connection or request, and the rule that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    /// The matching rule's name (`<rule>/read` or `<rule>/write` for a
    /// pack), or `default`.
    pub rule: Arc<str>,
    /// The rule's reason, for the approval card and the deny response.
    pub reason: Option<Arc<str>>,
}

/// A pack a policy uses, for `gateway policy check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackUse {
    pub name: Arc<str>,
    pub description: Arc<str>,
    /// How many rules it expanded into.
    pub rules: usize,
}

/// A compiled policy; cheap to decide with, and immutable (hot reload
/// swaps whole policies, see [`store`]).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    rules: Vec<Rule>,
    index: RuleIndex,
    needs_body: bool,
    packs: Vec<PackUse>,
    sources: Sources,
}

impl Policy {
    /// Reads a policy; packs come from `packs/` beside it.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses policy text read from `path`, which places the packs and
    /// names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, PolicyError> {
        let mut sources = Sources::default();
        sources.record(path, FileState::of(text.as_bytes()));
        Self::compile(text, path, &mut sources)
    }

    /// [`Self::load`], also saying which files the attempt read even when
    /// it fails, so that hot reload can tell when to try again.
    fn load_tracked(path: &Path) -> (Sources, Result<Self, PolicyError>) {
        let mut sources = Sources::default();
        let read_error = |source| PolicyError::Read {
            path: path.to_owned(),
            source,
        };
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) => {
                sources.record(path, FileState::Missing);
                return (sources, Err(read_error(error)));
            }
        };
        sources.record(path, FileState::of(&bytes));
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => {
                let error = std::io::Error::new(std::io::ErrorKind::InvalidData, error);
                return (sources, Err(read_error(error)));
            }
        };
        let result = Self::compile(&text, path, &mut sources);
        (sources, result)
    }

    fn compile(text: &str, path: &Path, sources: &mut Sources) -> Result<Self, PolicyError> {
        let compiled = parse::compile(text, path, sources)?;
        Ok(Self {
            index: RuleIndex::build(&compiled.rules),
            needs_body: compiled
                .rules
                .iter()
                .any(|r| r.http.as_ref().is_some_and(|h| !h.body.is_empty())),
            rules: compiled.rules,
            packs: compiled.packs,
            sources: sources.clone(),
        })
    }

    /// Decides a raw TCP connection to `dst`.
    #[must_use]
    pub fn decide(&self, dst: SocketAddr) -> Decision {
        let found = self.index.first_for_ip(dst.ip().to_canonical(), None, |i| {
            self.rules[i].matches_connection(dst)
        });
        self.decision(found)
    }

    /// Decides an HTTP request.
    #[must_use]
    pub fn decide_request(&self, facts: &RequestFacts<'_>) -> Decision {
        let request = Request::new(facts);
        self.decision(self.first_match(&request))
    }

    /// Decides an HTTP request, and says for every rule why it matched or
    /// which condition failed. Slower than [`Self::decide_request`]: it
    /// tries every rule.
    #[must_use]
    pub fn explain_request(&self, facts: &RequestFacts<'_>) -> Explanation {
        let request = Request::new(facts);
        let mut decided = false;
        let rules: Vec<RuleTrace> = self
            .rules
            .iter()
            .map(|rule| {
                let mut checks = Vec::new();
                let outcome = match rule.matches_request(&request, &mut checks) {
                    false => Outcome::NoMatch,
                    true if decided => Outcome::Shadowed,
                    true => {
                        decided = true;
                        Outcome::Decides
                    }
                };
                RuleTrace {
                    name: Arc::clone(&rule.name),
                    action: rule.action,
                    origin: rule.origin.clone(),
                    checks,
                    outcome,
                }
            })
            .collect();
        let decision = self.decide_request(facts);
        // The trace tries every rule; the decision uses the index. They
        // must agree, or the index is wrong.
        debug_assert_eq!(
            rules
                .iter()
                .find(|r| r.outcome == Outcome::Decides)
                .map(|r| &r.name),
            (&*decision.rule != "default").then_some(&decision.rule),
        );
        Explanation { decision, rules }
    }

    /// Whether any rule that does not deny names this host (exactly or by
    /// wildcard): the gateway answers an agent's DNS query only for such
    /// names, so a lookup cannot carry data to an arbitrary name.
    #[must_use]
    pub fn may_reach_name(&self, name: &str) -> bool {
        let host = RequestHost::new(name);
        matches!(host, RequestHost::Name(_))
            && self.rules.iter().any(|rule| {
                rule.action != Action::Deny && rule.hosts.iter().any(|h| h.matches_host(&host))
            })
    }

    /// Whether some rule looks at the body: the proxy then reads up to
    /// [`BODY_PREFIX_MAX`] bytes of it before deciding.
    #[must_use]
    pub fn needs_body(&self) -> bool {
        self.needs_body
    }

    /// How many rules, packs expanded.
    #[must_use]
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// The packs the policy uses, in order of first use.
    #[must_use]
    pub fn packs(&self) -> &[PackUse] {
        &self.packs
    }

    fn first_match(&self, request: &Request<'_>) -> Option<usize> {
        let accept = |i: usize| self.rules[i].matches_request(request, &mut ());
        let path = request.path.segments();
        match &request.host {
            RequestHost::Name(name) => self.index.first_for_name(name, path, accept),
            RequestHost::Ip(ip) => self.index.first_for_ip(*ip, Some(path), accept),
        }
    }

    fn decision(&self, rule: Option<usize>) -> Decision {
        match rule.map(|i| &self.rules[i]) {
            Some(rule) => Decision {
                action: rule.action,
                rule: Arc::clone(&rule.name),
                reason: rule.reason.clone(),
            },
            None => Decision {
                action: Action::Deny,
                rule: "default".into(),
                reason: None,
            },
        }
    }
}

#[cfg(test)]
mod tests;
