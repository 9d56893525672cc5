//! Writing the gateway's config and policy files (TOML, see the interfaces
//! spec and the issue-3 spec).

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug)]
pub enum Action {
    Allow,
    Deny,
    Approve,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Approve => "approve",
        }
    }
}

/// One `[[rules]]` entry of a policy file. Hosts are IPs, CIDRs or names
/// (`*.domain` for any subdomain); the HTTP conditions make it an HTTP rule.
#[derive(Clone, Debug)]
pub struct Rule {
    name: String,
    action: Action,
    hosts: Vec<String>,
    ports: Option<Vec<u16>>,
    methods: Option<Vec<String>>,
    paths: Option<Vec<String>>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<(String, String)>,
    reason: Option<String>,
}

impl Rule {
    /// Allows `hosts` (anything `Display`) on any port.
    pub fn allow<H: ToString>(name: &str, hosts: &[H]) -> Self {
        Self::new(name, Action::Allow, hosts)
    }

    pub fn deny<H: ToString>(name: &str, hosts: &[H]) -> Self {
        Self::new(name, Action::Deny, hosts)
    }

    pub fn approve<H: ToString>(name: &str, hosts: &[H]) -> Self {
        Self::new(name, Action::Approve, hosts)
    }

    fn new<H: ToString>(name: &str, action: Action, hosts: &[H]) -> Self {
        Self {
            name: name.to_owned(),
            action,
            hosts: hosts.iter().map(ToString::to_string).collect(),
            ports: None,
            methods: None,
            paths: None,
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
            reason: None,
        }
    }

    /// Restricts the rule to these ports.
    #[must_use]
    pub fn ports(mut self, ports: &[u16]) -> Self {
        self.ports = Some(ports.to_vec());
        self
    }

    #[must_use]
    pub fn methods(mut self, methods: &[&str]) -> Self {
        self.methods = Some(methods.iter().map(|m| (*m).to_owned()).collect());
        self
    }

    /// Path globs (`*` one segment, `**` any number).
    #[must_use]
    pub fn paths(mut self, paths: &[&str]) -> Self {
        self.paths = Some(paths.iter().map(|p| (*p).to_owned()).collect());
        self
    }

    #[must_use]
    pub fn query(mut self, key: &str, value_glob: &str) -> Self {
        self.query.push((key.to_owned(), value_glob.to_owned()));
        self
    }

    #[must_use]
    pub fn header(mut self, name: &str, value_glob: &str) -> Self {
        self.headers.push((name.to_owned(), value_glob.to_owned()));
        self
    }

    /// A JSON body field (dotted path) whose value must match the glob.
    #[must_use]
    pub fn body_field(mut self, path: &str, value_glob: &str) -> Self {
        self.body.push((path.to_owned(), value_glob.to_owned()));
        self
    }

    #[must_use]
    pub fn reason(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_owned());
        self
    }
}

/// A TOML basic string (Rust's debug escaping agrees for what tests use).
fn quoted(s: &str) -> String {
    format!("{s:?}")
}

fn string_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| quoted(i)).collect();
    format!("[{}]", items.join(", "))
}

fn inline_table(pairs: &[(String, String)]) -> String {
    let pairs: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{} = {}", quoted(k), quoted(v)))
        .collect();
    format!("{{ {} }}", pairs.join(", "))
}

/// A policy file's text.
pub fn policy_toml(rules: &[Rule]) -> String {
    let mut out = String::new();
    for rule in rules {
        let _ = writeln!(out, "[[rules]]");
        let _ = writeln!(out, "name = {}", quoted(&rule.name));
        let _ = writeln!(out, "action = \"{}\"", rule.action.as_str());
        let _ = writeln!(out, "hosts = {}", string_list(&rule.hosts));
        if let Some(ports) = &rule.ports {
            let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
            let _ = writeln!(out, "ports = [{}]", ports.join(", "));
        }
        if let Some(methods) = &rule.methods {
            let _ = writeln!(out, "methods = {}", string_list(methods));
        }
        if let Some(paths) = &rule.paths {
            let _ = writeln!(out, "paths = {}", string_list(paths));
        }
        for (key, pairs) in [
            ("query", &rule.query),
            ("headers", &rule.headers),
            ("body", &rule.body),
        ] {
            if !pairs.is_empty() {
                let _ = writeln!(out, "{key} = {}", inline_table(pairs));
            }
        }
        if let Some(reason) = &rule.reason {
            let _ = writeln!(out, "reason = {}", quoted(reason));
        }
        out.push('\n');
    }
    out
}

/// The gateway's TLS and resolver settings.
#[derive(Clone, Debug)]
pub struct GatewayOptions {
    /// `[gateway] ca_dir`: the CA that signs intercepted TLS.
    pub ca_dir: Option<PathBuf>,
    /// `[gateway] upstream_ca_file`: extra CAs trusted for upstreams.
    pub upstream_ca_file: Option<PathBuf>,
    /// `[resolver.hosts]`: the static map.
    pub hosts: Vec<(String, Vec<IpAddr>)>,
    /// `[resolver] nameservers`.
    pub nameservers: Vec<SocketAddr>,
    /// `[gateway] state_dir`; the harness always sets one (a `state/`
    /// directory beside the config) so gateways never share a vault or a
    /// database, and no test reads or writes /var/lib/gateway.
    pub state_dir: Option<PathBuf>,
    /// `[approvals] web_port`; `None` turns the page off (`0`), so that
    /// gateways of tests running in parallel do not contend for a port.
    pub web_port: Option<u16>,
    /// `[approvals]`; `None` leaves the gateway's defaults.
    pub approvals: Option<ApprovalOptions>,
}

/// `[approvals]` settings.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApprovalOptions {
    pub hold_seconds: Option<u64>,
    pub expire_seconds: Option<u64>,
    pub max_pending_per_agent: Option<usize>,
}

/// A name no test uses: with it the static map is never empty, so a
/// gateway started by the harness never falls back to the system resolver.
pub const PLACEHOLDER_HOST: &str = "unused.test.example";

impl Default for GatewayOptions {
    fn default() -> Self {
        Self {
            ca_dir: None,
            upstream_ca_file: None,
            hosts: vec![(
                PLACEHOLDER_HOST.to_owned(),
                vec![IpAddr::from([127, 0, 0, 1])],
            )],
            nameservers: Vec::new(),
            state_dir: None,
            web_port: None,
            approvals: None,
        }
    }
}

impl GatewayOptions {
    /// The lines of the `[gateway]` section, and the sections after the
    /// agents (`[approvals]`, `[resolver]`).
    fn toml(&self) -> (String, String) {
        let mut gateway = String::new();
        let state_dir = self.state_dir.as_ref().map_or_else(
            || crate::gateway::STATE_SUBDIR.to_owned(),
            |d| d.to_string_lossy().into_owned(),
        );
        let _ = writeln!(gateway, "state_dir = {}", quoted(&state_dir));
        if let Some(dir) = &self.ca_dir {
            let _ = writeln!(gateway, "ca_dir = {}", quoted(&dir.to_string_lossy()));
        }
        if let Some(file) = &self.upstream_ca_file {
            let _ = writeln!(
                gateway,
                "upstream_ca_file = {}",
                quoted(&file.to_string_lossy())
            );
        }
        let mut sections = String::new();
        sections.push_str("\n[approvals]\n");
        let _ = writeln!(sections, "web_port = {}", self.web_port.unwrap_or(0));
        if let Some(approvals) = &self.approvals {
            for (key, value) in [
                (
                    "hold_seconds",
                    approvals.hold_seconds.map(|v| v.to_string()),
                ),
                (
                    "expire_seconds",
                    approvals.expire_seconds.map(|v| v.to_string()),
                ),
                (
                    "max_pending_per_agent",
                    approvals.max_pending_per_agent.map(|v| v.to_string()),
                ),
            ] {
                if let Some(value) = value {
                    let _ = writeln!(sections, "{key} = {value}");
                }
            }
        }
        if !self.nameservers.is_empty() || !self.hosts.is_empty() {
            sections.push_str("\n[resolver]\n");
        }
        if !self.nameservers.is_empty() {
            let servers: Vec<String> = self.nameservers.iter().map(ToString::to_string).collect();
            let _ = writeln!(sections, "nameservers = {}", string_list(&servers));
        }
        if !self.hosts.is_empty() {
            sections.push_str("\n[resolver.hosts]\n");
            for (name, ips) in &self.hosts {
                let ips: Vec<String> = ips.iter().map(ToString::to_string).collect();
                let _ = writeln!(sections, "{} = {}", quoted(name), string_list(&ips));
            }
        }
        (gateway, sections)
    }
}

/// A config file's text with one agent entry.
pub fn config_toml(
    listen_port: u16,
    pin_dir: &Path,
    agent: &str,
    cgroup: &str,
    policy_file: &str,
    options: &GatewayOptions,
) -> String {
    config_toml_agents(
        listen_port,
        pin_dir,
        &[(agent, cgroup, policy_file)],
        options,
    )
}

/// A config file's text with these `(name, cgroup, policy file)` agents.
pub fn config_toml_agents(
    listen_port: u16,
    pin_dir: &Path,
    agents: &[(&str, &str, &str)],
    options: &GatewayOptions,
) -> String {
    let (gateway, sections) = options.toml();
    let mut out = format!(
        "[gateway]\nlisten_port = {listen_port}\npin_dir = {}\n{gateway}",
        quoted(&pin_dir.to_string_lossy())
    );
    for (name, cgroup, policy) in agents {
        let _ = write!(
            out,
            "\n[[agents]]\nname = {}\ncgroup = {}\npolicy = {}\n",
            quoted(name),
            quoted(cgroup),
            quoted(policy)
        );
    }
    out.push_str(&sections);
    out
}
