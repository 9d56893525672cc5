//! Where a secret may go: which hosts, which position in the request,
//! which agents. Part of each record's authenticated data.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::VaultError;

/// The slot in a template that the secret (or placeholder) fills.
pub const SLOT: &str = "{}";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    /// Exact names, or `*.example.org` for any name below example.org.
    pub hosts: Vec<String>,
    pub position: Position,
    pub agents: AgentScope,
}

/// The one place in a request where the secret goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Position {
    /// A header whose whole value is `format` with `{}` as the secret,
    /// such as `Authorization: Bearer {}`.
    Header { name: String, format: String },
    /// The whole value of one query parameter.
    Query { key: String },
    /// A piece of the path, such as `/bot{}/` (Telegram).
    Path { template: String },
    /// The password of `Authorization: Basic`, with this user name.
    BasicAuth { user: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AgentScope {
    /// Every agent (chosen explicitly with `--any-agent`).
    Any,
    /// Only these agents (`[[agents]] name` in the configuration).
    Only(Vec<String>),
}

impl Binding {
    /// Checks and normalises (hosts lowercase, header name lowercase).
    pub fn validated(mut self) -> Result<Self, VaultError> {
        let invalid = |m: String| Err(VaultError::Invalid(m));
        if self.hosts.is_empty() {
            return invalid("a secret needs at least one --host".into());
        }
        for host in &mut self.hosts {
            *host = host.trim_end_matches('.').to_ascii_lowercase();
            let name = host.strip_prefix("*.").unwrap_or(host);
            let ok = !name.is_empty()
                && name.split('.').all(|l| {
                    !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
            if !ok {
                return invalid(format!(
                    "host {host:?}: use a DNS name, or `*.name` for any name below it"
                ));
            }
        }
        match &mut self.position {
            Position::Header { name, format } => {
                *name = name.trim().to_ascii_lowercase();
                if http::HeaderName::from_bytes(name.as_bytes()).is_err()
                    || ["host", "connection", "transfer-encoding", "content-length"]
                        .contains(&name.as_str())
                {
                    return invalid(format!("{name:?} cannot carry a secret"));
                }
                one_slot(format, "header format")?;
            }
            Position::Query { key } => {
                if key.is_empty() || key.contains(['&', '=', '#', ' ']) {
                    return invalid(format!("query parameter {key:?} is not a plain key"));
                }
            }
            Position::Path { template } => {
                one_slot(template, "path template")?;
                if !template.starts_with('/') || template.contains(['?', '#']) {
                    return invalid(format!(
                        "path template {template:?} must start with `/` and hold no query"
                    ));
                }
            }
            Position::BasicAuth { user } => {
                if user.contains(':') {
                    return invalid("a basic-auth user name cannot contain `:`".into());
                }
            }
        }
        match &self.agents {
            AgentScope::Only(names) if names.is_empty() => {
                return invalid(
                    "name the agents that may use the secret (--agent NAME), or --any-agent".into(),
                );
            }
            _ => {}
        }
        Ok(self)
    }

    /// Whether `host` (normalised: lowercase, no trailing dot) is bound.
    #[must_use]
    pub fn allows_host(&self, host: &str) -> bool {
        self.hosts
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(domain) => host
                    .strip_suffix(domain)
                    .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                None => pattern == host,
            })
    }

    #[must_use]
    pub fn allows_agent(&self, agent: &str) -> bool {
        match &self.agents {
            AgentScope::Any => true,
            AgentScope::Only(names) => names.iter().any(|n| n == agent),
        }
    }
}

fn one_slot(template: &str, what: &str) -> Result<(), VaultError> {
    if template.matches(SLOT).count() == 1 {
        Ok(())
    } else {
        Err(VaultError::Invalid(format!(
            "{what} {template:?} must contain `{{}}` exactly once, where the secret goes"
        )))
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header { name, format } => write!(f, "header \"{name}: {format}\""),
            Self::Query { key } => write!(f, "query {key}={{}}"),
            Self::Path { template } => write!(f, "path {template}"),
            Self::BasicAuth { user } => write!(f, "basic-auth user {user:?}"),
        }
    }
}

impl fmt::Display for AgentScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any agent"),
            Self::Only(names) => f.write_str(&names.join(",")),
        }
    }
}

impl fmt::Display for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "hosts={} {} agents={}",
            self.hosts.join(","),
            self.position,
            self.agents
        )
    }
}
