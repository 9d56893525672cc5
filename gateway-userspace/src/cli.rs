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
        /// The CA that signs intercepted TLS (see `gateway ca init`).
        #[arg(long, default_value = crate::tls::DEFAULT_CA_DIR)]
        ca_dir: PathBuf,
        /// Extra CA certificates (PEM) to trust for upstreams.
        #[arg(long)]
        upstream_ca_file: Option<PathBuf>,
        /// Root-only directory of the vault and the approvals database.
        #[arg(long, default_value = crate::config::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        /// The agent name the command runs as: which secrets' placeholders
        /// it gets (as environment variables) and may use.
        #[arg(long, default_value = "exec")]
        agent: String,
        /// DNS server (`ip:port`) for upstream names; repeatable. Default:
        /// the host's resolv.conf.
        #[arg(long = "nameserver", value_name = "IP:PORT")]
        nameservers: Vec<std::net::SocketAddr>,
        /// A fixed answer for an upstream name, `NAME=IP`; repeatable.
        #[arg(long = "resolve", value_name = "NAME=IP", value_parser = parse_resolve)]
        resolve: Vec<(String, std::net::IpAddr)>,
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Check and explain policies.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// The gateway's certificate authority, which signs the certificates
    /// it shows agents when it intercepts TLS.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// The credentials vault: secrets the gateway injects in place of the
    /// placeholders agents hold.
    Secret {
        #[command(subcommand)]
        command: SecretCommand,
    },
    /// Requests waiting for a person's approval: list, show, approve,
    /// deny, and the URL of the local web page.
    Approvals {
        #[command(subcommand)]
        command: ApprovalsCommand,
    },
    /// Test support, not for use: serves the approvals web page over an
    /// in-memory desk that takes approvals as JSON lines on standard input
    /// and prints every desk event as a JSON line; ends at end of input.
    /// The browser test drives it (`tests/tests/approval_web.rs`).
    #[command(hide = true)]
    ApprovalsWebDemo {
        /// Where `web.token` is kept (made if missing).
        #[arg(long)]
        state_dir: PathBuf,
        /// Loopback port (0: any free port; the first line printed says which).
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// The tamper-evident audit log of every decision.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Measures the approvals store and the audit log (for `cargo xtask
    /// bench approvals`).
    #[command(hide = true)]
    BenchStore {
        /// An empty scratch directory on the disk to measure.
        #[arg(long)]
        state_dir: PathBuf,
        /// Pending approvals in the store while measuring.
        #[arg(long, default_value_t = 10_000)]
        pending: usize,
        /// Operations measured of each kind.
        #[arg(long, default_value_t = 2_000)]
        samples: usize,
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

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file (packs included); errors give line and column.
    Check {
        /// Policy file (TOML).
        file: PathBuf,
    },
    /// Show which rule decides a request, and why.
    Explain {
        /// Gateway configuration naming the agent and its policy.
        #[arg(long, default_value = "policies/gateway.toml")]
        config: PathBuf,
        /// Agent name, as in the configuration.
        #[arg(long)]
        agent: String,
        /// HTTP method, such as GET or POST.
        method: String,
        /// Full URL, such as `https://api.github.com/repos/o/r/issues?state=open`.
        url: String,
        /// A file whose content is the request body.
        #[arg(long)]
        body: Option<PathBuf>,
        /// A request header, `Name: value`; repeatable.
        #[arg(long = "header", short = 'H')]
        headers: Vec<String>,
    },
}

/// Which gateway's state: the one a configuration names, or a directory.
#[derive(Debug, Clone, clap::Args)]
pub struct StateArgs {
    /// Gateway configuration whose `state_dir` to use.
    #[arg(long, conflicts_with = "state_dir")]
    pub config: Option<PathBuf>,
    /// The gateway's state directory (default /var/lib/gateway).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
}

impl StateArgs {
    /// The state directory from `--config`, `--state-dir` or the default.
    pub fn dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(config) = &self.config {
            return Ok(crate::config::Config::load(config)?.state_dir);
        }
        Ok(self
            .state_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(crate::config::DEFAULT_STATE_DIR)))
    }
}

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// Approvals, newest first: pending ones, or all with `--all`.
    List {
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// The request exactly as it would be sent (credentials redacted),
    /// and the approval's status.
    Show {
        id: String,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Approve: one identical request goes through, once.
    Approve {
        id: String,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Print the URL that opens the local approvals web page (it carries
    /// the access token, so only root can read it).
    WebUrl {
        /// Gateway configuration: its `state_dir` and `[approvals] web_port`.
        #[arg(long, conflicts_with_all = ["state_dir", "port"])]
        config: Option<PathBuf>,
        /// State directory holding `web.token`, without a configuration.
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// The page's port, without a configuration.
        #[arg(long)]
        port: Option<u16>,
    },
    /// Deny: the request, and identical ones while the approval lives, get 403.
    Deny {
        id: String,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        state: StateArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Write the records as JSON lines to standard output.
    Export {
        /// Only records at or after this time (RFC 3339 or unix milliseconds).
        #[arg(long)]
        since: Option<String>,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Check the hash chain: exit 0 if intact, else name the first bad record.
    Verify {
        #[command(flatten)]
        state: StateArgs,
    },
    /// Remove the records older than a time, oldest first (the chain then
    /// starts from the last one removed, and the prune is itself recorded).
    /// Export what you must keep first.
    Prune {
        /// Remove records before this time (RFC 3339 or unix milliseconds).
        #[arg(long)]
        before: String,
        #[command(flatten)]
        state: StateArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Add or replace (rotate) a secret; its value is read from standard
    /// input, never from the command line. A running gateway picks it up
    /// within a second.
    #[command(group(clap::ArgGroup::new("position").required(true)))]
    #[command(group(clap::ArgGroup::new("who").required(true)))]
    Set {
        /// The secret's name; agents get its placeholder in this
        /// environment variable.
        name: String,
        /// A host the secret may be sent to: exact, or `*.example.org`
        /// for any name below it. Repeatable.
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        /// An agent (`[[agents]] name`) that may use it. Repeatable.
        #[arg(long = "agent", group = "who")]
        agents: Vec<String>,
        /// Every agent may use it.
        #[arg(long, group = "who")]
        any_agent: bool,
        /// A header and its value, `{}` where the secret goes:
        /// `'Authorization: Bearer {}'`.
        #[arg(long, group = "position", value_name = "NAME: FORMAT")]
        header: Option<String>,
        /// The query parameter whose value is the secret.
        #[arg(long, group = "position", value_name = "KEY")]
        query: Option<String>,
        /// A path piece, `{}` where the secret goes: `'/bot{}/'`.
        #[arg(long, group = "position", value_name = "TEMPLATE")]
        path: Option<String>,
        /// Basic auth with this user name; the secret is the password.
        #[arg(long, group = "position", value_name = "USER")]
        basic_auth: Option<String>,
        #[arg(long, default_value = crate::config::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
    },
    /// Show each secret's name, binding and whether it opens; never values.
    List {
        #[arg(long, default_value = crate::config::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
    },
    /// Remove a secret.
    Rm {
        name: String,
        #[arg(long, default_value = crate::config::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
    },
    /// Print an agent's placeholders as an env file (`NAME=gwph-…`), for
    /// `docker run --env-file` or `podman run --env-file`.
    Env {
        /// The agent (`[[agents]] name`; `exec` for `gateway exec`).
        #[arg(long)]
        agent: String,
        #[arg(long, default_value = crate::config::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create the certificate authority (ECDSA P-256; key readable by root only).
    Init {
        /// Directory holding ca.pem and ca.key.
        #[arg(long, default_value = crate::tls::DEFAULT_CA_DIR)]
        dir: PathBuf,
        /// Replace an existing authority (agents must then trust the new one).
        #[arg(long)]
        force: bool,
    },
    /// Print the authority's certificate (PEM), for agents to trust.
    Export {
        /// Directory holding ca.pem and ca.key.
        #[arg(long, default_value = crate::tls::DEFAULT_CA_DIR)]
        dir: PathBuf,
    },
}

fn parse_resolve(text: &str) -> Result<(String, std::net::IpAddr), String> {
    let (name, ip) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected NAME=IP"))?;
    let ip = ip
        .parse()
        .map_err(|e| format!("{text:?}: {ip:?} is not an IP address: {e}"))?;
    Ok((name.trim_end_matches('.').to_ascii_lowercase(), ip))
}
