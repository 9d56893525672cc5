//! Parent side of the clients: each workload is one child process (the
//! optimised xtask's `bench-https-worker client`) that joins a cgroup
//! before its first socket, so the agent cgroup's programs see exactly
//! the benchmark's connections.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use super::client::ClientRun;
use super::worker::Workload;

const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How a client reaches the upstream on one route.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub worker: PathBuf,
    pub cgroup: PathBuf,
    pub addr: SocketAddr,
    pub connect: Option<SocketAddr>,
    pub ca: PathBuf,
    pub server_name: &'static str,
}

impl ClientSpec {
    fn command(&self, workload: Workload) -> Command {
        let mut command = Command::new(&self.worker);
        command
            .args(["bench-https-worker", "client", "--cgroup"])
            .arg(&self.cgroup)
            .arg("--addr")
            .arg(self.addr.to_string())
            .arg("--ca")
            .arg(&self.ca)
            .args(["--server-name", self.server_name]);
        if let Some(connect) = self.connect {
            command.arg("--connect").arg(connect.to_string());
        }
        let number = |n: u64| n.to_string();
        let size = |n: usize| n.to_string();
        match workload {
            Workload::KeepAlive {
                threads,
                connections,
                warmup_millis,
                millis,
            } => command
                .arg("keep-alive")
                .args(["--threads", &size(threads)])
                .args(["--connections", &size(connections)])
                .args(["--warmup-millis", &number(warmup_millis)])
                .args(["--millis", &number(millis)]),
            Workload::NewConnections {
                threads,
                in_flight,
                millis,
            } => command
                .arg("new-connections")
                .args(["--threads", &size(threads)])
                .args(["--in-flight", &size(in_flight)])
                .args(["--millis", &number(millis)]),
            Workload::Download { bytes, max_millis } => command
                .arg("download")
                .args(["--bytes", &number(bytes)])
                .args(["--max-millis", &number(max_millis)]),
            Workload::HoldIdle {
                connections,
                in_flight,
            } => command
                .arg("hold-idle")
                .args(["--connections", &size(connections)])
                .args(["--in-flight", &size(in_flight)]),
        };
        command
    }

    /// Runs `workload` to its end.
    pub fn run(&self, workload: Workload) -> Result<ClientRun> {
        let output = self
            .command(workload)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .context("running the benchmark client")?;
        if !output.status.success() {
            bail!(
                "the benchmark client ({workload:?} in {}) failed ({}); see its message above",
                self.cgroup.display(),
                output.status
            );
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(line)
            .with_context(|| format!("reading the benchmark client's result {line:?}"))
    }

    /// Starts a `HoldIdle` client and waits until its connections are
    /// open; they stay open until the returned guard is dropped.
    pub fn hold_idle(&self, connections: usize, in_flight: usize) -> Result<IdleClient> {
        let mut child = self
            .command(Workload::HoldIdle {
                connections,
                in_flight,
            })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting an idle-connection client")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("the client's stdout")?;
        let mut idle = IdleClient {
            child,
            stdin,
            run: ClientRun::default(),
        };
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("reading the idle-connection client's result")?;
        idle.run = serde_json::from_str(line.trim()).with_context(|| {
            format!(
                "the idle-connection client failed (it printed {line:?}); see its message above"
            )
        })?;
        Ok(idle)
    }
}

/// A client holding idle connections; dropping it closes them.
pub struct IdleClient {
    child: Child,
    stdin: Option<ChildStdin>,
    pub run: ClientRun,
}

impl Drop for IdleClient {
    fn drop(&mut self) {
        drop(self.stdin.take());
        crate::bench::child_stop::wait_or_kill(&mut self.child, STOP_TIMEOUT);
    }
}

/// Workloads named for the parent's plan.
pub fn keep_alive(
    threads: usize,
    connections: usize,
    warmup: Duration,
    time: Duration,
) -> Workload {
    Workload::KeepAlive {
        threads,
        connections,
        warmup_millis: millis(warmup),
        millis: millis(time),
    }
}

pub fn new_connections(threads: usize, in_flight: usize, time: Duration) -> Workload {
    Workload::NewConnections {
        threads,
        in_flight,
        millis: millis(time),
    }
}

pub fn download(bytes: u64, max_time: Duration) -> Workload {
    Workload::Download {
        bytes,
        max_millis: millis(max_time),
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
