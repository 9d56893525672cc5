//! `cargo xtask bench https`: what intercepting an agent's HTTPS costs,
//! against the same workload going direct, through mitmproxy (the
//! reference peer) and through nginx (the floor of any TLS-terminating
//! proxy), measured in one run on the same machine.
//!
//! An HTTPS upstream (hyper + rustls, a certificate for
//! `bench.test.example` from the benchmark's own CA) listens on 127.0.0.1.
//! Four routes reach it: direct, from a plain cgroup; via the gateway,
//! from an agent cgroup that a `gateway run` intercepts (its own CA, a
//! static host map and a policy allowing GET); via `mitmdump`, an explicit
//! proxy reached with CONNECT; via nginx, a reverse proxy with the
//! upstream's certificate, reached from the plain cgroup at its own
//! address. The clients are the same on every route,
//! child processes in a cgroup, trusting the CA of whatever terminates
//! their TLS. Measured: memory per idle connection, keep-alive requests
//! per second, new TLS connections per second (and per gateway
//! CPU-second), a large download; plus the policy engine's own
//! micro-benchmark of a 10,000-rule policy. Results go to the terminal and
//! to `target/bench/https.json`; a missed target prints FAIL but the run
//! still succeeds (it is a benchmark, not a test).
//!
//! The upstream and the clients run from an optimised build of xtask
//! (`worker_exe.rs`), mitmproxy from a venv under `target/bench/venv`,
//! nginx from PATH or unpacked into `target/bench/nginx` (`BENCH_NGINX`,
//! see `nginx/install.rs`). `GATEWAY_BIN` and `GATEWAY_LOG` work as for
//! `bench redirect` (the policy figure always comes from this tree's
//! source); `BENCH_HTTPS_UPSTREAM=http1` makes the upstream offer HTTP/1.1
//! only.

mod bench_ca;
mod client;
mod clients;
mod config;
mod mitmproxy;
mod nginx;
mod outcome;
mod phases;
mod policy_bench;
mod report;
mod server;
mod upstream;
pub mod worker;
mod worker_exe;

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, bail};

use self::bench_ca::SERVER_NAME;
use self::clients::ClientSpec;
use self::config::{GatewayFiles, GatewaySettings, ScratchDir};
use self::mitmproxy::Mitmdump;
use self::nginx::Nginx;
use self::outcome::{Outcome, PolicyResult, Settings};
use self::phases::{Measurements, Plan, Setup};
use self::upstream::Upstream;
use super::bench_cgroup::BenchCgroup;
use super::bench_gateway::BenchGateway;
use super::interrupt;
use super::machine::Machine;
use crate::{mounts, step};

/// As many rounds as routes, so that each route takes every place in the
/// order once; 2.5 s counted per run keeps each route's counted time
/// (10 s) above what three rounds of 3 s gave.
const PLAN: Plan = Plan {
    rounds: 4,
    download_rounds: 4,
    client_threads: 2,
    keep_alive_connections: 8,
    keep_alive_warmup_seconds: 0.5,
    keep_alive_seconds: 2.5,
    new_connections_in_flight: 8,
    new_connections_seconds: 2.5,
    download_bytes: 512 << 20,
    download_max_seconds: 15.0,
    idle_connections: 1_000,
    idle_in_flight: 50,
};

/// What the upstream offers by ALPN: by default h2 first, as most public
/// HTTPS servers do; `BENCH_HTTPS_UPSTREAM=http1` offers HTTP/1.1 only,
/// which makes the gateway use HTTP/1.1 upstream (the direct, mitmproxy
/// and nginx routes use HTTP/1.1 either way: the clients offer only that,
/// and nginx 1.22 proxies in HTTP/1.1 only).
const UPSTREAM_DEFAULT: &str = "h2, http/1.1";
const UPSTREAM_HTTP1: &str = "http/1.1";

pub fn run() -> Result<()> {
    let upstream_alpn = match std::env::var("BENCH_HTTPS_UPSTREAM").as_deref() {
        Err(_) | Ok("" | "h2") => UPSTREAM_DEFAULT,
        Ok("http1") => UPSTREAM_HTTP1,
        Ok(other) => bail!("BENCH_HTTPS_UPSTREAM={other:?}: use h2 (the default) or http1"),
    };
    let gateway_binary = super::bench_gateway::gateway_binary()?;
    let worker = worker_exe::find_or_build()?;
    let mitmproxy = mitmproxy::ensure_installed()?;
    let nginx = nginx::ensure_installed()?;
    interrupt::catch();
    let policy = policy_figures()?;
    let machine = Machine::describe();
    let settings = Settings {
        gateway_binary: gateway_binary.display().to_string(),
        gateway_log: std::env::var("GATEWAY_LOG").ok(),
        mitmproxy: mitmproxy.version,
        nginx: nginx.version.clone(),
        nginx_binary: nginx.binary.display().to_string(),
        upstream_alpn,
    };
    step::say(format_args!(
        "bench https on {} ({} cores), kernel {}; gateway log level {}; {}; {}; upstream ALPN {}",
        machine.cpu,
        machine.cores,
        machine.kernel,
        settings.gateway_log.as_deref().unwrap_or("info (default)"),
        settings.mitmproxy,
        settings.nginx,
        settings.upstream_alpn
    ));

    let started = Instant::now();
    let measurements = measure(
        &gateway_binary,
        &worker,
        &mitmproxy.mitmdump,
        &nginx,
        upstream_alpn == UPSTREAM_HTTP1,
    )?;
    step::say(format_args!(
        "measured in {:.0} s; cleaned up: gateway stopped and detached, mitmdump, nginx and upstream stopped, cgroups and scratch files removed",
        started.elapsed().as_secs_f64()
    ));

    let outcome = Outcome::new(machine, settings, PLAN, policy, measurements);
    let path = super::results::write_json("https", &outcome)?;
    print(&outcome);
    println!("\nresults: {}", path.display());
    Ok(())
}

/// The policy engine's figures; a failure (say, the tree does not build
/// right now) leaves them out instead of ending the benchmark.
fn policy_figures() -> Result<PolicyResult> {
    let policy = match policy_bench::run() {
        Ok(bench) => PolicyResult {
            bench: Some(bench),
            error: None,
        },
        Err(error) => {
            interrupt::check()?;
            step::say(format_args!(
                "warning: no policy figure: {error:#}; going on with the rest"
            ));
            PolicyResult {
                bench: None,
                error: Some(format!("{error:#}")),
            }
        }
    };
    interrupt::check()?;
    Ok(policy)
}

/// Sets everything up, measures, and tears it all down again.
fn measure(
    gateway_binary: &Path,
    worker: &Path,
    mitmdump_binary: &Path,
    nginx_installed: &nginx::Installed,
    upstream_http1_only: bool,
) -> Result<Measurements> {
    // Guards, dropped in reverse order: gateway (stopped, detached),
    // nginx, mitmdump, cgroups, upstream, scratch directory.
    let pid = std::process::id();
    let scratch = ScratchDir::create(pid)?;
    let bench_ca = bench_ca::write(scratch.path())?;
    let upstream = Upstream::start(worker, &bench_ca, upstream_http1_only)?;
    let mount = mounts::cgroup2_mount()?;
    let direct = BenchCgroup::create(&mount, &format!("gwbench-https-direct-{pid}"))?;
    let agent = BenchCgroup::create(&mount, &format!("gwbench-https-agent-{pid}"))?;
    let files = GatewayFiles::write(
        gateway_binary,
        &scratch,
        &GatewaySettings {
            agent_cgroup: &agent.path_below_mount(),
            listen_port: config::free_listen_port()?,
            upstream_port: upstream.addr().port(),
            upstream_ca: &bench_ca.ca,
        },
    )?;
    let mitmdump = Mitmdump::start(
        mitmdump_binary,
        config::free_port()?,
        &scratch.path().join("mitmproxy"),
        &bench_ca.ca,
        &scratch.path().join("mitmdump.log"),
    )?;
    let nginx = Nginx::start(
        nginx_installed,
        config::free_port()?,
        &scratch.path().join("nginx"),
        upstream.addr(),
        &bench_ca,
    )?;
    let mut gateway =
        BenchGateway::start(gateway_binary, &files.config, &files.pin_dir, &files.log)?;
    step::say(format_args!(
        "upstream https://{SERVER_NAME} on {}, gateway on 127.0.0.1:{}, mitmproxy on {}, nginx on {} (master + {} workers)",
        upstream.addr(),
        gateway.listen_port(),
        mitmdump.addr(),
        nginx.addr(),
        nginx.pids().len() - 1
    ));
    let spec = |cgroup: &Path, ca: &Path, addr, connect| ClientSpec {
        worker: worker.to_owned(),
        cgroup: cgroup.to_owned(),
        addr,
        connect,
        ca: ca.to_owned(),
        server_name: SERVER_NAME,
    };
    let mut setup = Setup {
        direct: spec(direct.dir(), &bench_ca.ca, upstream.addr(), None),
        via_gateway: spec(agent.dir(), &files.ca_cert, upstream.addr(), None),
        via_mitmproxy: spec(
            direct.dir(),
            mitmdump.ca_cert(),
            mitmdump.addr(),
            Some(upstream.addr()),
        ),
        via_nginx: spec(direct.dir(), &bench_ca.ca, nginx.addr(), None),
        upstream_pid: upstream.pid(),
        upstream_port: upstream.addr().port(),
        gateway: &mut gateway,
        mitmproxy: &mitmdump,
        nginx: &nginx,
    };
    let measurements = phases::run(&PLAN, &mut setup);
    if measurements.is_err() {
        for (name, output) in [
            ("mitmdump", mitmdump.log_text()),
            ("nginx", nginx.log_text()),
        ] {
            if !output.trim().is_empty() {
                step::say(format_args!("{name}'s output:\n{output}"));
            }
        }
    }
    measurements
}

fn print(outcome: &Outcome) {
    let machine = &outcome.machine;
    println!(
        "\nbench https, {}: {} ({} cores), Linux {}",
        machine.date, machine.cpu, machine.cores, machine.kernel
    );
    let settings = &outcome.settings;
    println!(
        "gateway {}, log level {}; {}; {} ({}); upstream ALPN {}; medians of {} rounds ({} for downloads)",
        settings.gateway_binary,
        settings.gateway_log.as_deref().unwrap_or("info (default)"),
        settings.mitmproxy,
        settings.nginx,
        settings.nginx_binary,
        settings.upstream_alpn,
        outcome.plan.rounds,
        outcome.plan.download_rounds
    );
    let load = &outcome.measurements.load;
    println!(
        "meanwhile other work used {:.2} CPUs and the hypervisor stole {:.2} CPUs (of {})\n",
        load.others_cpus, load.steal_cpus, machine.cores
    );
    print!("{}", outcome.figures_table());
    println!("\ntargets (issue 3):\n");
    print!("{}", outcome.targets_table());
    println!("\n{}", outcome.reference_line());
    println!("\nper round:\n");
    print!("{}", outcome.rounds_table());
    if let Some(error) = &outcome.policy.error {
        println!("\npolicy evaluation not measured: {error}");
    }
    super::results::print_verdict(&outcome.missed_targets());
}
