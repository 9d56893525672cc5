//! `cargo xtask run`: build, create the agent cgroups, then become the gateway
//! (exec), so Ctrl-C and the exit code are the gateway's own.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::gateway_config::{self, AgentCgroup};
use crate::{build, cgroup, mounts, step, workspace};

const DEFAULT_CONFIG: &str = "policies/gateway.toml";
/// Where `gateway ca init` puts the CA's certificate by default.
const CA_CERT: &str = "/var/lib/gateway/ca/ca.pem";

/// `config` is taken relative to the current directory; the default relative to the repository.
pub fn run(config: Option<PathBuf>) -> Result<()> {
    let config = config.unwrap_or_else(|| workspace::root().join(DEFAULT_CONFIG));
    let config = config
        .canonicalize()
        .with_context(|| format!("finding the gateway config {}", config.display()))?;
    // Read the config before the (long) build, so a typo shows at once.
    let agents = gateway_config::agent_cgroups(&config)?;

    let gateway = build::run()?;
    let mount = mounts::cgroup2_mount()?;
    let mut cgroup_dirs = Vec::with_capacity(agents.len());
    for AgentCgroup { agent, cgroup } in &agents {
        let dir = cgroup::path_below(&mount, cgroup)
            .with_context(|| format!("agent {agent:?} in {}", config.display()))?;
        cgroup::ensure(&dir)?;
        cgroup_dirs.push((agent.as_str(), dir));
    }
    ensure_ca(&gateway)?;
    print_hint(&config, &gateway, &cgroup_dirs);

    let mut command = step::command(&gateway);
    command.args(["run", "--config"]).arg(&config);
    step::say(format_args!(
        "starting the gateway: {}",
        step::describe(&command)
    ));
    // exec only returns on failure.
    let error = command.exec();
    Err(error).with_context(|| format!("starting the gateway {}", gateway.display()))
}

/// The example intercepts TLS, which needs the gateway's CA: make it once.
fn ensure_ca(gateway: &Path) -> Result<()> {
    if Path::new(CA_CERT).exists() {
        return Ok(());
    }
    step::run(
        step::command(gateway).args(["ca", "init"]),
        "creating the gateway's CA for TLS interception",
        "see the message above; `gateway ca init --dir DIR` picks another place",
    )
}

fn print_hint(config: &Path, gateway: &Path, cgroup_dirs: &[(&str, PathBuf)]) {
    if cgroup_dirs.is_empty() {
        step::say("the config names no [[agents]]: the gateway will redirect nothing");
        return;
    }
    eprintln!("\nHow to try it: in another root shell, join an agent's cgroup, e.g.");
    for (agent, dir) in cgroup_dirs {
        eprintln!(
            "    echo $$ > {}    # agent {agent:?}",
            dir.join("cgroup.procs").display()
        );
    }
    eprintln!(
        "then every TCP connection from that shell goes through the gateway:\n\
         \x20   curl -sv http://127.0.0.1:8000/    # allowed by policies/demo.toml; other requests get a 403\n\
         \x20   curl -s --cacert /var/lib/gateway/ca/ca.pem https://api.github.com/zen    # intercepted TLS\n\
         The gateway logs each decision here. Ctrl-C stops it, but its programs stay attached \
         (the agents' connections then fail) until\n\
         \x20   {} detach --config {}\n",
        gateway.display(),
        config.display()
    );
}
