//! The part of the gateway config xtask needs: the agents' cgroups. The
//! gateway itself validates the whole file; unknown keys are ignored here.

use std::fs;
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct GatewayConfig {
    #[serde(default)]
    agents: Vec<Agent>,
}

#[derive(Debug, Deserialize)]
struct Agent {
    name: Option<String>,
    cgroup: String,
}

/// An agent's name (for messages) and cgroup path below the cgroup v2 mount.
#[derive(Debug, PartialEq, Eq)]
pub struct AgentCgroup {
    pub agent: String,
    pub cgroup: String,
}

/// The `[[agents]]` cgroups of the config file at `path`.
pub fn agent_cgroups(path: &Path) -> Result<Vec<AgentCgroup>> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("reading the gateway config {}", path.display()))?;
    parse(&text).with_context(|| format!("parsing the gateway config {}", path.display()))
}

fn parse(text: &str) -> Result<Vec<AgentCgroup>> {
    let config: GatewayConfig = toml::from_str(text)?;
    Ok(config
        .agents
        .into_iter()
        .map(|agent| AgentCgroup {
            agent: agent.name.unwrap_or_else(|| "(unnamed)".to_owned()),
            cgroup: agent.cgroup,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_agent_cgroups_and_ignores_the_rest() {
        let text = r#"
[gateway]
listen_port = 15001

[[agents]]
name = "demo"
cgroup = "/agents"
policy = "demo.toml"

[[agents]]
name = "other"
cgroup = "/agents2/inner"
policy = "other.toml"
"#;
        let cgroups = parse(text).unwrap();
        assert_eq!(
            cgroups,
            [
                AgentCgroup {
                    agent: "demo".into(),
                    cgroup: "/agents".into()
                },
                AgentCgroup {
                    agent: "other".into(),
                    cgroup: "/agents2/inner".into()
                },
            ]
        );
    }

    #[test]
    fn agent_without_cgroup_is_an_error_with_a_line() {
        let error = parse("[[agents]]\nname = \"demo\"\n").unwrap_err();
        assert!(format!("{error}").contains("cgroup"), "{error}");
    }
}
