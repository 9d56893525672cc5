//! The hidden `bench-https-worker` task: the processes of `bench https`
//! that carry traffic, the HTTPS upstream and the clients. The benchmark
//! runs them from an optimised build of xtask (see `worker_exe.rs`), so
//! that neither the upstream nor the clients are what limits a figure.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;

use super::{client, server};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    role: Role,
}

#[derive(Debug, clap::Subcommand)]
enum Role {
    /// The HTTPS upstream on 127.0.0.1: prints its port, serves until its
    /// standard input closes.
    Server {
        /// Certificate chain (PEM).
        #[arg(long)]
        cert: PathBuf,
        /// Private key (PEM).
        #[arg(long)]
        key: PathBuf,
        /// Offer only HTTP/1.1 by ALPN (else h2 first, then HTTP/1.1).
        #[arg(long)]
        http1_only: bool,
    },
    /// One client workload, run inside a cgroup; prints one JSON line.
    Client(ClientArgs),
}

#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    /// cgroup directory to join before the first connection.
    #[arg(long)]
    pub cgroup: PathBuf,
    /// Where TCP connections go: the upstream, or the explicit proxy.
    #[arg(long)]
    pub addr: SocketAddr,
    /// Through an explicit proxy at `addr`: `CONNECT` to this address.
    #[arg(long)]
    pub connect: Option<SocketAddr>,
    /// The CA (PEM) that the certificate the client sees must chain to.
    #[arg(long)]
    pub ca: PathBuf,
    /// TLS server name and Host header name.
    #[arg(long)]
    pub server_name: String,
    #[command(subcommand)]
    pub workload: Workload,
}

#[derive(Debug, Clone, Copy, clap::Subcommand)]
pub enum Workload {
    /// `connections` TLS connections on `threads` runtime threads, each
    /// sending small GETs back to back; counted after `warmup_millis`.
    KeepAlive {
        #[arg(long)]
        threads: usize,
        #[arg(long)]
        connections: usize,
        #[arg(long)]
        warmup_millis: u64,
        #[arg(long)]
        millis: u64,
    },
    /// `in_flight` loops on `threads` runtime threads, each: TCP connect,
    /// full TLS handshake (no resumption), one small GET, close.
    NewConnections {
        #[arg(long)]
        threads: usize,
        #[arg(long)]
        in_flight: usize,
        #[arg(long)]
        millis: u64,
    },
    /// One GET of `bytes` made up by the upstream, read and dropped; gives
    /// up after `max_millis`.
    Download {
        #[arg(long)]
        bytes: u64,
        #[arg(long)]
        max_millis: u64,
    },
    /// Opens `connections` (at most `in_flight` at a time), one small GET
    /// on each, prints its result and keeps them open and idle until its
    /// standard input closes.
    HoldIdle {
        #[arg(long)]
        connections: usize,
        #[arg(long)]
        in_flight: usize,
    },
}

/// Child side: the `bench-https-worker` task.
pub fn run(args: &Args) -> Result<()> {
    raise_fd_limit();
    match &args.role {
        Role::Server {
            cert,
            key,
            http1_only,
        } => server::run(cert, key, *http1_only),
        Role::Client(client) => {
            crate::bench::client::join_cgroup(&client.cgroup)?;
            client::run(client)
        }
    }
}

/// Raises the soft limit of open files to the hard one (allowed without
/// privileges): an idle-connection client holds one descriptor per
/// connection. The caller sizes its clients by the hard limit.
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit for the kernel to fill and read.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) == 0
            && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit);
        }
    }
}

/// The hard limit of open files of this process (its children inherit it).
pub fn fd_hard_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: as in `raise_fd_limit`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } == 0 {
        limit.rlim_max
    } else {
        1024
    }
}
