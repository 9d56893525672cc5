//! The client side of a benchmark. It runs as a child process (this
//! binary again, as the hidden `bench-client` task) that moves itself into
//! a cgroup before it opens a single socket, runs one workload, and prints
//! its result as one JSON line on standard output.
//!
//! A child, because cgroup membership belongs to a process: the agent
//! cgroup's programs then see exactly the benchmark's connections.

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use std::{env, fs};

use anyhow::{Context as _, Result, bail};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::cpu_affinity;
use super::percentile::percentile;

/// A peer that stops answering fails the run instead of hanging it.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Give up a connection-rate run after this many failures in a row.
const MAX_FAILURES_IN_A_ROW: u64 = 100;

/// The hidden `bench-client` task's arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// cgroup directory to join before the first connection.
    #[arg(long)]
    cgroup: PathBuf,
    /// Echo server to connect to.
    #[arg(long)]
    addr: SocketAddr,
    /// Pin the client to this CPU.
    #[arg(long)]
    cpu: Option<usize>,
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Debug, Clone, Copy, clap::Subcommand)]
pub enum Workload {
    /// On each thread, until the time is up: connect, write one byte, read
    /// it back, close.
    ConnectRate {
        #[arg(long)]
        threads: usize,
        #[arg(long)]
        millis: u64,
    },
    /// `warmup` then `count` timed round trips of `size` bytes on one
    /// connection with `TCP_NODELAY`.
    RoundTrip {
        #[arg(long)]
        count: usize,
        #[arg(long)]
        warmup: usize,
        #[arg(long)]
        size: usize,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectRate {
    pub connections: u64,
    pub failures: u64,
    pub first_failure: Option<String>,
    pub elapsed_ns: u64,
    /// The port the client's socket was connected to, as it saw it: the
    /// echo server's port direct, the gateway's listen port when redirected.
    pub peer_port: u16,
}

impl ConnectRate {
    #[expect(
        clippy::cast_precision_loss,
        reason = "counts and nanoseconds far below 2^52"
    )]
    pub fn per_second(&self) -> f64 {
        self.connections as f64 * 1e9 / self.elapsed_ns.max(1) as f64
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoundTrip {
    pub count: usize,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub mean_ns: u64,
    pub peer_port: u16,
}

/// Parent side: runs `workload` against `addr` in a child inside `cgroup`.
pub fn connect_rate(
    cgroup: &Path,
    addr: SocketAddr,
    threads: usize,
    time: Duration,
) -> Result<ConnectRate> {
    let millis = u64::try_from(time.as_millis()).unwrap_or(u64::MAX);
    spawn(
        cgroup,
        addr,
        None,
        Workload::ConnectRate { threads, millis },
    )
}

/// Parent side: see [`connect_rate`]; `cpu` pins the client.
pub fn round_trip(
    cgroup: &Path,
    addr: SocketAddr,
    cpu: Option<usize>,
    plan: RoundTripPlan,
) -> Result<RoundTrip> {
    let RoundTripPlan {
        count,
        warmup,
        size,
    } = plan;
    spawn(
        cgroup,
        addr,
        cpu,
        Workload::RoundTrip {
            count,
            warmup,
            size,
        },
    )
}

/// How many round trips of how many bytes.
#[derive(Debug, Clone, Copy)]
pub struct RoundTripPlan {
    pub count: usize,
    pub warmup: usize,
    pub size: usize,
}

fn spawn<T: DeserializeOwned>(
    cgroup: &Path,
    addr: SocketAddr,
    cpu: Option<usize>,
    workload: Workload,
) -> Result<T> {
    let exe = env::current_exe().context("finding the xtask binary to run the client")?;
    let mut command = Command::new(exe);
    command
        .arg("bench-client")
        .arg("--cgroup")
        .arg(cgroup)
        .arg("--addr")
        .arg(addr.to_string());
    if let Some(cpu) = cpu {
        command.args(["--cpu", &cpu.to_string()]);
    }
    match workload {
        Workload::ConnectRate { threads, millis } => command
            .arg("connect-rate")
            .args(["--threads", &threads.to_string()])
            .args(["--millis", &millis.to_string()]),
        Workload::RoundTrip {
            count,
            warmup,
            size,
        } => command
            .arg("round-trip")
            .args(["--count", &count.to_string()])
            .args(["--warmup", &warmup.to_string()])
            .args(["--size", &size.to_string()]),
    };
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running the benchmark client")?;
    if !output.status.success() {
        bail!(
            "the benchmark client ({workload:?} in {}) failed ({}); see its message above",
            cgroup.display(),
            output.status
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line)
        .with_context(|| format!("reading the benchmark client's result {line:?}"))
}

/// Child side: the `bench-client` task.
pub fn run(args: &Args) -> Result<()> {
    if let Some(cpu) = args.cpu {
        cpu_affinity::pin_this_thread(cpu)?;
    }
    join_cgroup(&args.cgroup)?;
    let line = match args.workload {
        Workload::ConnectRate { threads, millis } => serde_json::to_string(&run_connect_rate(
            args.addr,
            threads,
            Duration::from_millis(millis),
        )?)?,
        Workload::RoundTrip {
            count,
            warmup,
            size,
        } => serde_json::to_string(&run_round_trip(args.addr, count, warmup, size)?)?,
    };
    println!("{line}");
    Ok(())
}

/// Moves this process into the cgroup at `dir` and checks that it is there.
pub fn join_cgroup(dir: &Path) -> Result<()> {
    let procs = dir.join("cgroup.procs");
    // "0" means the writing process.
    fs::write(&procs, "0")
        .with_context(|| format!("joining the cgroup: writing to {}", procs.display()))?;
    let ours = fs::read_to_string("/proc/self/cgroup").context("reading /proc/self/cgroup")?;
    let v2 = ours
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .unwrap_or_default();
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    if !v2.ends_with(&format!("/{name}")) {
        bail!("joined {} but /proc/self/cgroup says {v2:?}", dir.display());
    }
    Ok(())
}

fn run_connect_rate(addr: SocketAddr, threads: usize, time: Duration) -> Result<ConnectRate> {
    // One exchange first: it proves the path works and tells where it goes.
    let peer_port = exchange_once(addr)
        .and_then(|stream| stream.peer_addr())
        .context("first connection of the connect-rate workload")?
        .port();
    let start = Instant::now();
    let deadline = start + time;
    let counts: Vec<LoopCounts> = std::thread::scope(|scope| {
        let loops: Vec<_> = (0..threads)
            .map(|_| scope.spawn(move || connect_loop(addr, deadline)))
            .collect();
        loops
            .into_iter()
            .map(|thread| thread.join().unwrap_or_default())
            .collect()
    });
    let elapsed = start.elapsed();
    Ok(ConnectRate {
        connections: counts.iter().map(|c| c.connections).sum(),
        failures: counts.iter().map(|c| c.failures).sum(),
        first_failure: counts.into_iter().find_map(|c| c.first_failure),
        elapsed_ns: u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
        peer_port,
    })
}

#[derive(Default)]
struct LoopCounts {
    connections: u64,
    failures: u64,
    first_failure: Option<String>,
}

fn connect_loop(addr: SocketAddr, deadline: Instant) -> LoopCounts {
    let mut counts = LoopCounts::default();
    let mut in_a_row = 0;
    while Instant::now() < deadline && in_a_row < MAX_FAILURES_IN_A_ROW {
        match exchange_once(addr) {
            Ok(_) => {
                counts.connections += 1;
                in_a_row = 0;
            }
            Err(error) => {
                counts.failures += 1;
                in_a_row += 1;
                counts
                    .first_failure
                    .get_or_insert_with(|| error.to_string());
            }
        }
    }
    counts
}

/// connect, write one byte, read it back. The caller closes the stream
/// (drops it).
fn exchange_once(addr: SocketAddr) -> io::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.write_all(&[1])?;
    let mut byte = [0u8; 1];
    stream.read_exact(&mut byte)?;
    Ok(stream)
}

fn run_round_trip(addr: SocketAddr, count: usize, warmup: usize, size: usize) -> Result<RoundTrip> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    let peer_port = stream.peer_addr()?.port();
    let message = vec![0x5a_u8; size];
    let mut reply = vec![0_u8; size];
    for _ in 0..warmup {
        stream.write_all(&message)?;
        stream.read_exact(&mut reply)?;
    }
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let start = Instant::now();
        stream.write_all(&message)?;
        stream
            .read_exact(&mut reply)
            .context("reading an echoed message")?;
        samples.push(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    let mean_ns = samples.iter().sum::<u64>() / u64::try_from(count.max(1)).unwrap_or(1);
    Ok(RoundTrip {
        count,
        p50_ns: percentile(&mut samples, 0.50).context("no round trips measured")?,
        p99_ns: percentile(&mut samples, 0.99).context("no round trips measured")?,
        mean_ns,
        peer_port,
    })
}
