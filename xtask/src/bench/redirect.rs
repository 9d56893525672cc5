//! `cargo xtask bench redirect`: what redirecting an agent's TCP through
//! the gateway costs, against the same workload going direct, measured in
//! one run on the same machine.
//!
//! An echo server listens on 127.0.0.1. Two fresh cgroups: the agent one,
//! which a gateway (`gateway run`, built as `cargo xtask build` does)
//! redirects, and a plain one. Client processes join one or the other and
//! measure new connections per second and the round trip of small
//! messages; the sides alternate over several rounds and the medians are
//! compared. Meanwhile the kernel's run-time statistics give the cost of
//! each of the gateway's eBPF programs. Results go to the terminal and to
//! `target/bench/redirect.json`; a missed target prints FAIL but the run
//! still succeeds (it is a benchmark, not a test).

mod config;
mod outcome;
mod report;
mod rounds;

use anyhow::Result;

use self::config::BenchConfig;
use self::outcome::Outcome;
use self::rounds::{Plan, Setup};
use super::bench_cgroup::BenchCgroup;
use super::bench_gateway::BenchGateway;
use super::bpf_stats::{PinnedPrograms, StatsEnabled};
use super::echo_server::EchoServer;
use super::interrupt;
use super::machine::Machine;
use crate::{mounts, step};

const PLAN: Plan = Plan {
    rounds: 3,
    connect_threads: 2,
    connect_seconds: 3.0,
    round_trips: 20_000,
    warmup_round_trips: 2_000,
    message_bytes: 64,
};

/// Connections the echo server serves at once; the workloads use at most
/// a few.
const ECHO_THREADS: usize = 16;

pub fn run() -> Result<()> {
    let gateway_binary = super::bench_gateway::gateway_binary()?;
    interrupt::catch();
    let machine = Machine::describe();
    let gateway_log = std::env::var("GATEWAY_LOG").ok();
    step::say(format_args!(
        "bench redirect on {} ({} cores), kernel {}; gateway log level {}",
        machine.cpu,
        machine.cores,
        machine.kernel,
        gateway_log.as_deref().unwrap_or("info (default)")
    ));

    let measurements = {
        // Guards, dropped in reverse order: gateway (stopped, detached),
        // statistics, config files, cgroups, echo server.
        let mount = mounts::cgroup2_mount()?;
        let pid = std::process::id();
        let echo = EchoServer::start(ECHO_THREADS)?;
        let direct = BenchCgroup::create(&mount, &format!("gwbench-direct-{pid}"))?;
        let agent = BenchCgroup::create(&mount, &format!("gwbench-agent-{pid}"))?;
        let files = BenchConfig::write(
            pid,
            &agent.path_below_mount(),
            config::free_listen_port()?,
            echo.addr(),
        )?;
        let _stats = StatsEnabled::enable()?;
        let mut gateway = BenchGateway::start(
            &gateway_binary,
            files.config(),
            files.pin_dir(),
            &files.log_file(),
        )?;
        let programs = PinnedPrograms::in_pin_dir(gateway.pin_dir())?;
        step::say(format_args!(
            "echo server on {}, gateway on 127.0.0.1:{}; {} rounds",
            echo.addr(),
            gateway.listen_port(),
            PLAN.rounds
        ));
        let mut setup = Setup {
            echo: echo.addr(),
            direct: &direct,
            agent: &agent,
            gateway: &mut gateway,
            programs: &programs,
        };
        rounds::run(&PLAN, &mut setup)?
    };
    step::say("cleaned up: gateway stopped and detached, cgroups removed, echo server stopped");

    let outcome = Outcome::new(
        machine,
        gateway_binary.display().to_string(),
        gateway_log,
        PLAN,
        measurements,
    );
    let path = super::results::write_json("redirect", &outcome)?;
    print(&outcome);
    println!("\nresults: {}", path.display());
    Ok(())
}

fn print(outcome: &Outcome) {
    let machine = &outcome.machine;
    println!(
        "\nbench redirect, {}: {} ({} cores), Linux {}",
        machine.date, machine.cpu, machine.cores, machine.kernel
    );
    println!(
        "gateway {}, log level {}; medians of {} rounds",
        outcome.gateway_binary,
        outcome.gateway_log.as_deref().unwrap_or("info (default)"),
        outcome.plan.rounds
    );
    let load = &outcome.measurements.load;
    println!(
        "meanwhile other work used {:.2} CPUs and the hypervisor stole {:.2} CPUs (of {})\n",
        load.others_cpus, load.steal_cpus, machine.cores
    );
    print!("{}", outcome.table());
    println!("\nper round:\n");
    print!("{}", outcome.rounds_table());
    super::results::print_verdict(&outcome.missed_targets());
}
