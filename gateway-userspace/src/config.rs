//! The gateway's configuration file: where to listen, where to pin, and
//! which cgroups are agents under which policy.

use std::{
    collections::{HashMap, HashSet},
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
};

use serde::Deserialize;

use crate::{
    approvals::ApprovalSettings,
    policy::{Policy, PolicyError},
    resolve::ResolverSettings,
};

pub const DEFAULT_LISTEN_PORT: u16 = 15001;
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/gateway";
/// Where the gateway keeps what must outlive it: the vault, the approvals
/// and audit database.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/gateway";
/// Host-loopback port of the local approvals web page (`[approvals]
/// web_port`; 0 turns the page off).
pub const DEFAULT_WEB_PORT: u16 = 15080;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading configuration {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("configuration {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen_port: u16,
    pub pin_dir: PathBuf,
    /// Root-only directory for the vault and the approvals/audit database.
    pub state_dir: PathBuf,
    /// Where this gateway's database and admin socket live: `state_dir`
    /// for `gateway run`; one directory per command under it for
    /// `gateway exec` (sled lets one process open a database).
    pub db_dir: PathBuf,
    pub agents: Vec<AgentConfig>,
    pub tls: TlsSettings,
    pub resolver: ResolverSettings,
    pub approvals: ApprovalSettings,
}

/// One agent: a cgroup subtree and the policy for its connections.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub name: String,
    /// Path below the cgroup v2 mount, such as `/agents`.
    pub cgroup: PathBuf,
    pub policy: Policy,
    /// Where the policy was read from, for reloading; `None` for a
    /// policy given in code (`gateway exec` without `--policy`).
    pub policy_path: Option<PathBuf>,
}

/// TLS interception settings.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// The CA made by `gateway ca init`. Without one, TLS is relayed as
    /// raw TCP, decided by address and port only.
    pub ca_dir: PathBuf,
    /// Extra CA certificates (PEM) trusted for upstreams, besides the
    /// public web roots: for private upstreams.
    pub upstream_ca_file: Option<PathBuf>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            ca_dir: PathBuf::from(crate::tls::DEFAULT_CA_DIR),
            upstream_ca_file: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    gateway: RawGateway,
    #[serde(default)]
    resolver: RawResolver,
    #[serde(default)]
    agents: Vec<RawAgent>,
    #[serde(default)]
    approvals: RawApprovals,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApprovals {
    web_port: Option<u16>,
    hold_seconds: Option<u64>,
    expire_seconds: Option<u64>,
    max_pending_per_agent: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    listen_port: Option<u16>,
    pin_dir: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    ca_dir: Option<PathBuf>,
    upstream_ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResolver {
    #[serde(default)]
    nameservers: Vec<SocketAddr>,
    #[serde(default)]
    hosts: HashMap<String, Vec<IpAddr>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    name: String,
    cgroup: PathBuf,
    policy: PathBuf,
}

impl Config {
    /// Reads and validates a configuration file and the policies it names.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let raw: RawConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        if raw.agents.is_empty() {
            return Err(invalid("no [[agents]]: nothing to protect".into()));
        }
        let mut names = HashSet::new();
        let mut agents = Vec::with_capacity(raw.agents.len());
        for agent in raw.agents {
            if !names.insert(agent.name.clone()) {
                return Err(invalid(format!(
                    "agent name {:?} is used twice",
                    agent.name
                )));
            }
            let cgroup = normalise_cgroup(&agent.cgroup).map_err(|m| {
                invalid(format!(
                    "agent {:?}: cgroup {}: {m}",
                    agent.name,
                    agent.cgroup.display()
                ))
            })?;
            let policy_path = base.join(&agent.policy);
            let policy = Policy::load(&policy_path)?;
            agents.push(AgentConfig {
                name: agent.name,
                cgroup,
                policy,
                policy_path: Some(policy_path),
            });
        }
        check_not_nested(&agents).map_err(invalid)?;
        let listen_port = raw.gateway.listen_port.unwrap_or(DEFAULT_LISTEN_PORT);
        let approvals = approval_settings(&raw.approvals, listen_port).map_err(invalid)?;
        let state_dir = raw
            .gateway
            .state_dir
            .map_or_else(|| PathBuf::from(DEFAULT_STATE_DIR), |d| base.join(d));
        Ok(Self {
            listen_port,
            pin_dir: raw
                .gateway
                .pin_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_PIN_DIR)),
            db_dir: state_dir.clone(),
            state_dir,
            agents,
            tls: TlsSettings {
                ca_dir: raw
                    .gateway
                    .ca_dir
                    .map_or_else(|| TlsSettings::default().ca_dir, |d| base.join(d)),
                upstream_ca_file: raw.gateway.upstream_ca_file.map(|f| base.join(f)),
            },
            resolver: ResolverSettings {
                nameservers: raw.resolver.nameservers,
                hosts: raw
                    .resolver
                    .hosts
                    .into_iter()
                    .map(|(name, ips)| (name.trim_end_matches('.').to_ascii_lowercase(), ips))
                    .collect(),
            },
            approvals,
        })
    }
}

fn approval_settings(raw: &RawApprovals, listen_port: u16) -> Result<ApprovalSettings, String> {
    let defaults = ApprovalSettings::default();
    let web_port = match raw.web_port {
        None => defaults.web_port,
        Some(0) => None,
        Some(port) => Some(port),
    };
    if web_port == Some(listen_port) {
        return Err(format!(
            "[approvals] web_port {listen_port} is also the gateway's listen_port"
        ));
    }
    let settings = ApprovalSettings {
        web_port,
        hold: raw
            .hold_seconds
            .map_or(defaults.hold, std::time::Duration::from_secs),
        expire: raw
            .expire_seconds
            .map_or(defaults.expire, std::time::Duration::from_secs),
        max_pending_per_agent: raw
            .max_pending_per_agent
            .unwrap_or(defaults.max_pending_per_agent),
    };
    if settings.expire.is_zero() {
        return Err("[approvals] expire_seconds must be at least 1".into());
    }
    if settings.max_pending_per_agent == 0 {
        return Err("[approvals] max_pending_per_agent must be at least 1".into());
    }
    Ok(settings)
}

/// Makes a cgroup path absolute below the v2 mount (`agents` → `/agents`)
/// and refuses `..` and the root cgroup.
pub fn normalise_cgroup(path: &Path) -> Result<PathBuf, String> {
    let mut out = PathBuf::from("/");
    for part in path.components() {
        match part {
            std::path::Component::Normal(p) => out.push(p),
            std::path::Component::RootDir | std::path::Component::CurDir => {}
            _ => return Err("must not contain `..`".into()),
        }
    }
    if out == Path::new("/") {
        return Err("the root cgroup cannot be an agent (it holds the gateway too)".into());
    }
    Ok(out)
}

/// The kernel programs pick the shallowest agent cgroup of a task, so a
/// nested one would never apply: refuse it rather than surprise.
fn check_not_nested(agents: &[AgentConfig]) -> Result<(), String> {
    for a in agents {
        for b in agents {
            if !std::ptr::eq(a, b) && b.cgroup.starts_with(&a.cgroup) {
                return Err(format!(
                    "agent {:?} (cgroup {}) is inside agent {:?} (cgroup {}); agent cgroups must not nest",
                    b.name,
                    b.cgroup.display(),
                    a.name,
                    a.cgroup.display()
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
