//! Writing the gateway's config and policy files (TOML, see the interfaces spec).

use std::fmt::Write as _;
use std::path::Path;

#[derive(Clone, Copy, Debug)]
pub enum Action {
    Allow,
    Deny,
}

/// One `[[rules]]` entry of a policy file.
#[derive(Clone, Debug)]
pub struct Rule {
    name: String,
    action: Action,
    hosts: Vec<String>,
    ports: Option<Vec<u16>>,
}

impl Rule {
    /// Allows `hosts` (IPs or CIDRs, anything `Display`) on any port.
    pub fn allow<H: ToString>(name: &str, hosts: &[H]) -> Self {
        Self::new(name, Action::Allow, hosts)
    }

    pub fn deny<H: ToString>(name: &str, hosts: &[H]) -> Self {
        Self::new(name, Action::Deny, hosts)
    }

    fn new<H: ToString>(name: &str, action: Action, hosts: &[H]) -> Self {
        Self {
            name: name.to_owned(),
            action,
            hosts: hosts.iter().map(ToString::to_string).collect(),
            ports: None,
        }
    }

    /// Restricts the rule to these ports.
    #[must_use]
    pub fn ports(mut self, ports: &[u16]) -> Self {
        self.ports = Some(ports.to_vec());
        self
    }
}

/// A policy file's text.
pub fn policy_toml(rules: &[Rule]) -> String {
    let mut out = String::new();
    for rule in rules {
        let action = match rule.action {
            Action::Allow => "allow",
            Action::Deny => "deny",
        };
        let hosts: Vec<String> = rule.hosts.iter().map(|h| format!("{h:?}")).collect();
        let _ = writeln!(out, "[[rules]]");
        let _ = writeln!(out, "name = {:?}", rule.name);
        let _ = writeln!(out, "action = \"{action}\"");
        let _ = writeln!(out, "hosts = [{}]", hosts.join(", "));
        if let Some(ports) = &rule.ports {
            let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
            let _ = writeln!(out, "ports = [{}]", ports.join(", "));
        }
        out.push('\n');
    }
    out
}

/// A config file's text with one agent entry.
pub fn config_toml(
    listen_port: u16,
    pin_dir: &Path,
    agent: &str,
    cgroup: &str,
    policy_file: &str,
) -> String {
    format!(
        "[gateway]\nlisten_port = {listen_port}\npin_dir = \"{}\"\n\n\
         [[agents]]\nname = {agent:?}\ncgroup = {cgroup:?}\npolicy = {policy_file:?}\n",
        pin_dir.display()
    )
}
