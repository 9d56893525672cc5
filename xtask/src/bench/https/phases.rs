//! The measurements of `bench https`, in order: memory per idle
//! connection (first, while the processes' heaps are still small: once
//! thousands of connections have come and gone, freed memory would be
//! reused and hide the cost of new ones), keep-alive requests, new
//! connections, large downloads. Each workload runs on the four routes,
//! direct, via the gateway, via mitmproxy and via nginx, several rounds,
//! the order rotating each round so that a drift of the machine's load
//! favours no route.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde::Serialize;

use super::super::bench_gateway::BenchGateway;
use super::super::gateway_log::LogCounts;
use super::super::interrupt;
use super::super::machine_load::{Load, LoadSnapshot, process_cpu_ns};
use super::client::ClientRun;
use super::clients::{self, ClientSpec, IdleClient};
use super::mitmproxy::Mitmdump;
use super::nginx::Nginx;
use super::worker::{Workload, fd_hard_limit};
use crate::step;

/// Lets connections finish closing and the gateway's log reader catch up.
const SETTLE: Duration = Duration::from_millis(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    Direct,
    Gateway,
    Mitmproxy,
    Nginx,
}

impl Route {
    /// Also the order of the first round; each later round starts one
    /// further on, so in as many rounds as routes each takes every place.
    pub const ALL: [Self; 4] = [Self::Direct, Self::Gateway, Self::Mitmproxy, Self::Nginx];

    pub fn label(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Gateway => "via gateway",
            Self::Mitmproxy => "via mitmproxy",
            Self::Nginx => "via nginx",
        }
    }

    /// Its letter in a round's order.
    pub fn letter(self) -> &'static str {
        match self {
            Self::Direct => "D",
            Self::Gateway => "G",
            Self::Mitmproxy => "M",
            Self::Nginx => "N",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Plan {
    pub rounds: usize,
    pub download_rounds: usize,
    pub client_threads: usize,
    pub keep_alive_connections: usize,
    pub keep_alive_warmup_seconds: f64,
    pub keep_alive_seconds: f64,
    pub new_connections_in_flight: usize,
    pub new_connections_seconds: f64,
    pub download_bytes: u64,
    pub download_max_seconds: f64,
    pub idle_connections: usize,
    pub idle_in_flight: usize,
}

/// One workload on one route.
#[derive(Debug, Clone, Serialize)]
pub struct RouteRun {
    pub route: Route,
    pub client: ClientRun,
    /// Wall time of the client process, start to end.
    pub wall_ns: u64,
    /// CPU time of the proxy in the middle (the gateway, mitmdump, nginx's
    /// master and workers) during the run; `None` direct.
    pub proxy_cpu_ns: Option<u64>,
    /// CPU time of the upstream during the run.
    pub upstream_cpu_ns: u64,
    /// What the gateway logged during the run (gateway route only).
    pub gateway_log: Option<LogCounts>,
}

/// One workload on every route, in the order they ran.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    pub runs: Vec<RouteRun>,
    /// What else ran on the machine meanwhile.
    pub load: Load,
}

impl Round {
    pub fn get(&self, route: Route) -> Option<&RouteRun> {
        self.runs.iter().find(|run| run.route == route)
    }
}

/// Idle connections held through one route, and what the process they
/// end in (the upstream direct, the gateway, mitmdump, nginx's master and
/// workers together) used for them.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryRun {
    pub route: Route,
    /// The process whose memory was measured.
    pub process: &'static str,
    pub connections: u64,
    pub client_processes: usize,
    pub failures: u64,
    pub first_failure: Option<String>,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub fds_before: u64,
    pub fds_after: u64,
    pub kib_per_connection: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Measurements {
    pub memory: Vec<MemoryRun>,
    pub keep_alive: Vec<Round>,
    pub new_connections: Vec<Round>,
    pub download: Vec<Round>,
    /// What else ran on the machine during all of it.
    pub load: Load,
}

/// Where the benchmark's parts are.
pub struct Setup<'a> {
    pub direct: ClientSpec,
    pub via_gateway: ClientSpec,
    pub via_mitmproxy: ClientSpec,
    pub via_nginx: ClientSpec,
    pub upstream_pid: u32,
    pub upstream_port: u16,
    pub gateway: &'a mut BenchGateway,
    pub mitmproxy: &'a Mitmdump,
    pub nginx: &'a Nginx,
}

impl Setup<'_> {
    fn spec(&self, route: Route) -> &ClientSpec {
        match route {
            Route::Direct => &self.direct,
            Route::Gateway => &self.via_gateway,
            Route::Mitmproxy => &self.via_mitmproxy,
            Route::Nginx => &self.via_nginx,
        }
    }

    /// The processes in the middle of a route (none direct).
    fn proxy_pids(&self, route: Route) -> Vec<u32> {
        match route {
            Route::Direct => Vec::new(),
            Route::Gateway => vec![self.gateway.pid()],
            Route::Mitmproxy => vec![self.mitmproxy.pid()],
            Route::Nginx => self.nginx.pids(),
        }
    }

    /// The processes whose memory holds a route's idle connections.
    fn server(&self, route: Route) -> (Vec<u32>, &'static str) {
        match route {
            Route::Direct => (vec![self.upstream_pid], "upstream"),
            Route::Gateway => (vec![self.gateway.pid()], "gateway"),
            Route::Mitmproxy => (vec![self.mitmproxy.pid()], "mitmdump"),
            Route::Nginx => (self.nginx.pids(), "nginx (master + workers)"),
        }
    }

    /// Where a client's socket must end up on a route.
    fn expected_peer_port(&self, route: Route) -> u16 {
        match route {
            Route::Direct => self.upstream_port,
            Route::Gateway => self.gateway.listen_port(),
            Route::Mitmproxy => self.mitmproxy.addr().port(),
            Route::Nginx => self.nginx.addr().port(),
        }
    }

    /// Every process of the benchmark that is not xtask's reaped child.
    fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.upstream_pid, self.gateway.pid(), self.mitmproxy.pid()];
        pids.extend(self.nginx.pids());
        pids
    }
}

pub fn run(plan: &Plan, setup: &mut Setup<'_>) -> Result<Measurements> {
    let start = LoadSnapshot::now(&setup.pids());
    // Every route's first connections: the gateway mints its leaf
    // certificate and opens its upstream connection, mitmproxy makes its
    // certificate, nginx's workers open upstream connections; none of that
    // is per connection.
    for route in Route::ALL {
        let warm = setup.spec(route).hold_idle(8, 8)?;
        check(setup, route, &warm.run, "warm-up")?;
    }
    std::thread::sleep(SETTLE);

    let mut memory = Vec::new();
    for route in Route::ALL {
        interrupt::check()?;
        let run = idle_memory(plan, setup, route)?;
        step::say(format_args!(
            "idle connections {}: {} held, {} RSS {} → {} KiB, {:.1} KiB each",
            route.label(),
            run.connections,
            run.process,
            run.rss_before_kib,
            run.rss_after_kib,
            run.kib_per_connection
        ));
        memory.push(run);
    }

    let keep_alive = clients::keep_alive(
        plan.client_threads,
        plan.keep_alive_connections,
        Duration::from_secs_f64(plan.keep_alive_warmup_seconds),
        Duration::from_secs_f64(plan.keep_alive_seconds),
    );
    let keep_alive = rounds(
        plan.rounds,
        setup,
        "keep-alive requests/s",
        keep_alive,
        ClientRun::per_second,
    )?;
    let new_connections = clients::new_connections(
        plan.client_threads,
        plan.new_connections_in_flight,
        Duration::from_secs_f64(plan.new_connections_seconds),
    );
    let new_connections = rounds(
        plan.rounds,
        setup,
        "new TLS connections/s",
        new_connections,
        ClientRun::per_second,
    )?;
    let download = clients::download(
        plan.download_bytes,
        Duration::from_secs_f64(plan.download_max_seconds),
    );
    let download = rounds(
        plan.download_rounds,
        setup,
        "download MiB/s",
        download,
        |run| run.per_second() / f64::from(1 << 20),
    )?;
    Ok(Measurements {
        memory,
        keep_alive,
        new_connections,
        download,
        load: LoadSnapshot::now(&setup.pids()).since(&start),
    })
}

/// `count` rounds of `workload` on every route.
fn rounds(
    count: usize,
    setup: &mut Setup<'_>,
    what: &str,
    workload: Workload,
    figure: impl Fn(&ClientRun) -> f64,
) -> Result<Vec<Round>> {
    let mut rounds = Vec::with_capacity(count);
    for index in 0..count {
        let round_start = LoadSnapshot::now(&setup.pids());
        let mut runs = Vec::with_capacity(Route::ALL.len());
        for offset in 0..Route::ALL.len() {
            let route = Route::ALL[(index + offset) % Route::ALL.len()];
            interrupt::check()?;
            std::thread::sleep(SETTLE);
            runs.push(run_once(setup, route, workload)?);
        }
        let load = LoadSnapshot::now(&setup.pids()).since(&round_start);
        let figures: Vec<String> = runs
            .iter()
            .map(|run| format!("{} {:.0}", run.route.label(), figure(&run.client)))
            .collect();
        step::say(format_args!(
            "{what}, round {}/{count}: {}; others used {:.2} CPUs",
            index + 1,
            figures.join(", "),
            load.others_cpus
        ));
        rounds.push(Round { runs, load });
    }
    Ok(rounds)
}

fn run_once(setup: &mut Setup<'_>, route: Route, workload: Workload) -> Result<RouteRun> {
    let proxy = setup.proxy_pids(route);
    let proxy_before = cpu_ns(&proxy);
    let upstream_before = process_cpu_ns(setup.upstream_pid).unwrap_or(0);
    let log_before = setup.gateway.log().position();
    let started = Instant::now();
    let result = setup.spec(route).run(workload);
    let wall_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    // A client killed by Ctrl-C fails; say "interrupted", not that.
    interrupt::check()?;
    let client = result?;
    let proxy_cpu_ns = cpu_ns(&proxy)
        .zip(proxy_before)
        .map(|(after, before)| after.saturating_sub(before));
    let upstream_cpu_ns = process_cpu_ns(setup.upstream_pid)
        .unwrap_or(0)
        .saturating_sub(upstream_before);
    check(setup, route, &client, "run")?;
    let gateway_log = if route == Route::Gateway {
        std::thread::sleep(SETTLE);
        setup.gateway.ensure_running()?;
        Some(
            setup
                .gateway
                .log()
                .count(log_before, setup.gateway.log().position())?,
        )
    } else {
        None
    };
    Ok(RouteRun {
        route,
        client,
        wall_ns,
        proxy_cpu_ns,
        upstream_cpu_ns,
        gateway_log,
    })
}

/// CPU time of processes together; `None` for none or a dead one.
fn cpu_ns(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&pid| process_cpu_ns(pid)).sum()
}

/// The client's socket must have gone where the route says, and some of
/// its work must have succeeded.
fn check(setup: &Setup<'_>, route: Route, run: &ClientRun, what: &str) -> Result<()> {
    let expected = setup.expected_peer_port(route);
    if run.peer_port != expected {
        bail!(
            "{what} {}: the client's connection went to port {}, not {expected}: the redirect is {} for its cgroup",
            route.label(),
            run.peer_port,
            if route == Route::Gateway {
                "not active"
            } else {
                "unexpectedly active"
            }
        );
    }
    if run.count == 0 {
        bail!(
            "{what} {}: nothing succeeded: {}",
            route.label(),
            run.first_failure.as_deref().unwrap_or("no error recorded")
        );
    }
    if run.failures > 0 {
        step::say(format_args!(
            "warning: {what} {}: {} failures; first: {}",
            route.label(),
            run.failures,
            run.first_failure.as_deref().unwrap_or("?")
        ));
    }
    Ok(())
}

fn idle_memory(plan: &Plan, setup: &Setup<'_>, route: Route) -> Result<MemoryRun> {
    let (pids, process) = setup.server(route);
    let rss_before_kib = rss_kib(&pids)?;
    let fds_before = fd_count(&pids);
    // Each connection is a descriptor in the client: split the clients so
    // that each stays well below the limit of open files it may raise to.
    let hard_limit = usize::try_from(fd_hard_limit()).unwrap_or(usize::MAX);
    let per_process = hard_limit
        .saturating_sub(128)
        .clamp(16, plan.idle_connections.max(16));
    let mut clients: Vec<IdleClient> = Vec::new();
    let mut remaining = plan.idle_connections;
    while remaining > 0 {
        let n = remaining.min(per_process);
        clients.push(setup.spec(route).hold_idle(n, plan.idle_in_flight)?);
        remaining -= n;
    }
    let mut total = ClientRun::default();
    for client in &clients {
        check(setup, route, &client.run, "idle connections")?;
        total.count += client.run.count;
        total.failures += client.run.failures;
        if total.first_failure.is_none() {
            total.first_failure.clone_from(&client.run.first_failure);
        }
    }
    let rss_after_kib = settled_rss_kib(&pids)?;
    let fds_after = fd_count(&pids);
    drop(clients);
    std::thread::sleep(SETTLE);
    #[expect(clippy::cast_precision_loss, reason = "KiB counts far below 2^52")]
    let kib_per_connection =
        rss_after_kib.saturating_sub(rss_before_kib) as f64 / total.count.max(1) as f64;
    Ok(MemoryRun {
        route,
        process,
        connections: total.count,
        client_processes: plan.idle_connections.div_ceil(per_process),
        failures: total.failures,
        first_failure: total.first_failure,
        rss_before_kib,
        rss_after_kib,
        fds_before,
        fds_after,
        kib_per_connection,
    })
}

/// RSS once it stops changing (the last handshakes' buffers are freed
/// asynchronously): read every 200 ms until two reads agree within 1%.
fn settled_rss_kib(pids: &[u32]) -> Result<u64> {
    let mut last = rss_kib(pids)?;
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(200));
        let now = rss_kib(pids)?;
        if now.abs_diff(last) * 100 <= last {
            return Ok(now);
        }
        last = now;
    }
    Ok(last)
}

/// RSS of processes together. Pages a forked worker still shares with
/// its master count twice, the same before and after, so the difference
/// is what the connections took.
fn rss_kib(pids: &[u32]) -> Result<u64> {
    pids.iter().map(|&pid| process_rss_kib(pid)).sum()
}

fn process_rss_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status =
        fs::read_to_string(&path).map_err(|error| anyhow::anyhow!("reading {path}: {error}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in {path}"))
}

fn fd_count(pids: &[u32]) -> u64 {
    pids.iter()
        .map(|pid| {
            fs::read_dir(Path::new(&format!("/proc/{pid}/fd"))).map_or(0, |dir| dir.count() as u64)
        })
        .sum()
}
