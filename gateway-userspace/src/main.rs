//! `gateway`: stands between AI agents and the network.
//!
//! See ARCHITECTURE.md for how the pieces fit together.

mod addr;
mod admin;
mod agent;
mod approval_web;
mod approval_web_cmd;
mod approvals;
mod approvals_cmd;
mod audit;
mod audit_cmd;
mod bench_store;
mod bpf;
mod ca_cmd;
mod cgroup;
mod cli;
mod config;
mod credentials;
mod detach;
mod detect;
mod dns;
mod exec;
mod gateway;
mod hex;
mod intercept;
mod kernel_log;
mod listeners;
mod logging;
mod netns;
mod own_ports;
mod policy;
mod policy_cmd;
mod privileges;
mod process;
mod proxy;
mod resolve;
mod run;
mod secret_cmd;
mod state;
mod time_text;
mod tls;
mod vault;
mod workers;

use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let result = match &cli.command {
        Command::Run { config } => run::run(config),
        Command::Exec {
            policy,
            listen_port,
            ca_dir,
            upstream_ca_file,
            state_dir,
            agent,
            nameservers,
            resolve,
            command,
        } => exec::exec(
            exec::ExecOptions {
                policy: policy.as_deref(),
                listen_port: *listen_port,
                state_dir: state_dir.clone(),
                agent: agent.clone(),
                tls: config::TlsSettings {
                    ca_dir: ca_dir.clone(),
                    upstream_ca_file: upstream_ca_file.clone(),
                },
                resolver: resolve::ResolverSettings {
                    nameservers: nameservers.clone(),
                    hosts: resolve.iter().fold(
                        std::collections::HashMap::new(),
                        |mut hosts: std::collections::HashMap<String, Vec<std::net::IpAddr>>,
                         (name, ip)| {
                            hosts.entry(name.clone()).or_default().push(*ip);
                            hosts
                        },
                    ),
                },
            },
            command,
        ),
        Command::Detach { config, pin_dir } => {
            detach::detach(config.as_deref(), pin_dir.as_deref())
        }
        Command::Policy { command } => policy_cmd::run(command),
        Command::Ca { command } => ca_cmd::run(command),
        Command::Secret { command } => secret_cmd::run(command),
        Command::Approvals { command } => approvals_cmd::run(command),
        Command::ApprovalsWebDemo { state_dir, port } => approval_web_cmd::demo(state_dir, *port),
        Command::Audit { command } => audit_cmd::run(command),
        Command::BenchStore {
            state_dir,
            pending,
            samples,
        } => bench_store::run(state_dir, *pending, *samples),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("gateway: error: {}", describe(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, leaving out a cause whose text
/// the message before it already includes.
fn describe(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}
