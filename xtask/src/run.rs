//! `cargo xtask run`: build, create the agent cgroups, then become the gateway
//! (exec), so Ctrl-C and the exit code are the gateway's own.

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result};

use crate::gateway_config::{self, AgentCgroup};
use crate::{build, cgroup, mounts, step, workspace};

const DEFAULT_CONFIG: &str = "policies/gateway.toml";

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
    print_hint(&cgroup_dirs);

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

fn print_hint(cgroup_dirs: &[(&str, PathBuf)]) {
    let Some((agent, dir)) = cgroup_dirs.first() else {
        step::say("the config names no [[agents]]: the gateway will redirect nothing");
        return;
    };
    let procs = dir.join("cgroup.procs");
    let procs = procs.display();
    eprintln!(
        "\nHow to try it: in another root shell, make that shell agent {agent:?}:\n\
         \x20   echo $$ > {procs}\n\
         then every TCP connection it opens goes through the gateway, e.g.\n\
         \x20   curl -v http://127.0.0.1:8080/\n\
         is relayed when the agent's policy allows it and reset when it does not; the \
         gateway logs each decision here. Ctrl-C stops the gateway, but its links stay \
         pinned (agents fail closed) until `target/release/gateway detach`.\n"
    );
}
