//! Per-agent policy: which destinations an agent may reach.
//!
//! Rules are tried in file order and the first match decides; when none
//! matches, the connection is denied. First-match is the precedence that
//! firewalls use, and the one a reader can check by eye.

mod pattern;

use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
};

use serde::Deserialize;
use toml::Spanned;

pub use self::pattern::{HostPattern, PortRange};

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Deny,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        })
    }
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: Arc<str>,
    pub action: Action,
    pub hosts: Vec<HostPattern>,
    /// `None`: any port.
    pub ports: Option<Vec<PortRange>>,
}

#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub rules: Vec<Rule>,
}

/// The outcome for one connection, and the rule that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    /// The matching rule's name, or `default`.
    pub rule: Arc<str>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    action: Action,
    hosts: Vec<Spanned<String>>,
    ports: Option<Vec<Spanned<RawPort>>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawPort {
    Number(u16),
    Range(String),
}

impl Policy {
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses policy text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, PolicyError> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let invalid = |span: std::ops::Range<usize>, message: String| {
            let (line, column) = line_column(text, span.start);
            PolicyError::Invalid {
                path: path.to_owned(),
                line,
                column,
                message,
            }
        };
        let mut rules = Vec::with_capacity(raw.rules.len());
        for rule in raw.rules {
            let mut hosts = Vec::with_capacity(rule.hosts.len());
            for host in &rule.hosts {
                let pattern = host
                    .get_ref()
                    .parse::<HostPattern>()
                    .map_err(|m| invalid(host.span(), m))?;
                hosts.push(pattern);
            }
            let ports = match &rule.ports {
                None => None,
                Some(ports) => {
                    let mut out = Vec::with_capacity(ports.len());
                    for port in ports {
                        let range = match port.get_ref() {
                            RawPort::Number(n) => Ok(PortRange::single(*n)),
                            RawPort::Range(s) => s.parse::<PortRange>(),
                        }
                        .map_err(|m| invalid(port.span(), m))?;
                        out.push(range);
                    }
                    Some(out)
                }
            };
            rules.push(Rule {
                name: rule.name.into(),
                action: rule.action,
                hosts,
                ports,
            });
        }
        Ok(Self { rules })
    }

    /// Decides a raw TCP connection to `dst`.
    #[must_use]
    pub fn decide(&self, dst: SocketAddr) -> Decision {
        self.rules
            .iter()
            .find(|rule| rule.matches(dst))
            .map_or_else(
                || Decision {
                    action: Action::Deny,
                    rule: "default".into(),
                },
                |rule| Decision {
                    action: rule.action,
                    rule: rule.name.clone(),
                },
            )
    }
}

impl Rule {
    fn matches(&self, dst: SocketAddr) -> bool {
        let port_ok = self
            .ports
            .as_ref()
            .is_none_or(|ports| ports.iter().any(|p| p.contains(dst.port())));
        port_ok && self.hosts.iter().any(|h| h.matches_ip(dst.ip()))
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests;
