//! Parent side of the HTTPS upstream: the optimised xtask's
//! `bench-https-worker server` as a child. Dropping it closes the child's
//! standard input, on which it exits (as it does if the benchmark dies).

use std::io::{BufRead as _, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use super::bench_ca::BenchCaFiles;

const STOP_TIMEOUT: Duration = Duration::from_secs(3);

pub struct Upstream {
    child: Child,
    stdin: Option<ChildStdin>,
    addr: SocketAddr,
}

impl Upstream {
    /// `http1_only`: the upstream offers only HTTP/1.1 by ALPN.
    pub fn start(worker: &Path, ca: &BenchCaFiles, http1_only: bool) -> Result<Self> {
        let mut command = Command::new(worker);
        command
            .args(["bench-https-worker", "server", "--cert"])
            .arg(&ca.server_chain)
            .arg("--key")
            .arg(&ca.server_key);
        if http1_only {
            command.arg("--http1-only");
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the HTTPS upstream")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("the upstream's stdout")?;
        let mut upstream = Self {
            child,
            stdin,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        };
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("reading the upstream's port")?;
        let port: u16 = match line.trim().parse() {
            Ok(port) => port,
            Err(_) => bail!("the HTTPS upstream did not start (it printed {line:?})"),
        };
        upstream.addr.set_port(port);
        Ok(upstream)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        drop(self.stdin.take());
        crate::bench::child_stop::wait_or_kill(&mut self.child, STOP_TIMEOUT);
    }
}
