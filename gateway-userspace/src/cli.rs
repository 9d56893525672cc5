//! Command-line interface.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "gateway",
    version,
    about = "Stands between AI agents and the network"
)]
pub struct Cli {
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Attach to the configured agent cgroups and proxy their connections.
    Run {
        /// Gateway configuration (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Run a command in a fresh agent cgroup under its own gateway.
    Exec {
        /// Policy for the command; without one, every connection is denied.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Loopback port of the gateway's listener (0: any free port).
        #[arg(long, default_value_t = 0)]
        listen_port: u16,
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Remove a gateway's pinned programs: its agents go direct again.
    Detach {
        /// Configuration whose `pin_dir` to detach.
        #[arg(long, conflicts_with = "pin_dir")]
        config: Option<PathBuf>,
        /// Pin directory to detach.
        #[arg(long)]
        pin_dir: Option<PathBuf>,
    },
}
