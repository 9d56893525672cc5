//! `gateway`: stands between AI agents and the network.
//!
//! See ARCHITECTURE.md for how the pieces fit together.

mod addr;
mod agent;
mod bpf;
mod cgroup;
mod cli;
mod config;
mod detach;
mod exec;
mod gateway;
mod kernel_log;
mod listeners;
mod logging;
mod netns;
mod policy;
mod privileges;
mod process;
mod proxy;
mod run;

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
            command,
        } => exec::exec(policy.as_deref(), *listen_port, command),
        Command::Detach { config, pin_dir } => {
            detach::detach(config.as_deref(), pin_dir.as_deref())
        }
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
