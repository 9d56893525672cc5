//! The measurement loop: each workload alternately from the plain cgroup
//! (direct to the echo server) and from the agent cgroup (redirected
//! through the gateway), several rounds, swapping which side goes first
//! each round so that a drift of the machine's load favours neither.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use serde::Serialize;

use super::super::bench_cgroup::BenchCgroup;
use super::super::bench_gateway::BenchGateway;
use super::super::bpf_stats::{PinnedPrograms, ProgramRuns};
use super::super::client::{self, ConnectRate, RoundTrip, RoundTripPlan};
use super::super::cpu_affinity::PinnedThreads;
use super::super::gateway_log::{LogCounts, LogPosition};
use super::super::interrupt;
use super::super::machine_load::{Load, LoadSnapshot, process_cpu_ns};
use crate::step;

/// Lets connections finish closing and the log reader catch up between runs.
const SETTLE: Duration = Duration::from_millis(300);
/// The CPU of the one-CPU round trips.
const ONE_CPU: usize = 0;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Plan {
    pub rounds: usize,
    pub connect_threads: usize,
    pub connect_seconds: f64,
    pub round_trips: usize,
    pub warmup_round_trips: usize,
    pub message_bytes: usize,
}

/// One workload once per side.
#[derive(Debug, Clone, Serialize)]
pub struct Pair<T> {
    pub direct: T,
    pub gateway: T,
}

/// One round: each workload once per side.
#[derive(Debug, Clone, Serialize)]
pub struct RoundResult {
    pub connect: Pair<ConnectRate>,
    /// Threads where the scheduler puts them.
    pub round_trip: Pair<RoundTrip>,
    /// Client, echo server and gateway all on one CPU.
    pub round_trip_one_cpu: Pair<RoundTrip>,
    /// What else ran on the machine meanwhile.
    pub load: Load,
}

/// What the gateway's side cost, summed over the agent-side runs of one workload.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GatewaySide {
    pub programs: ProgramRuns,
    pub log: LogCounts,
    /// CPU time of the gateway process (user and system; clock ticks).
    pub gateway_cpu_ns: u64,
    /// The parts of the gateway's log written during these runs, counted
    /// into `log` after the last run.
    #[serde(skip)]
    log_spans: Vec<(LogPosition, LogPosition)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Measurements {
    pub rounds: Vec<RoundResult>,
    /// What else ran on the machine during all rounds.
    pub load: Load,
    pub connect_rate_runs: GatewaySide,
    pub round_trip_runs: GatewaySide,
}

/// Where the benchmark's parts are.
pub struct Setup<'a> {
    pub echo: SocketAddr,
    pub direct: &'a BenchCgroup,
    pub agent: &'a BenchCgroup,
    pub gateway: &'a mut BenchGateway,
    pub programs: &'a PinnedPrograms,
}

pub fn run(plan: &Plan, setup: &mut Setup<'_>) -> Result<Measurements> {
    let mut measurements = Measurements {
        rounds: Vec::with_capacity(plan.rounds),
        load: Load::default(),
        connect_rate_runs: GatewaySide::default(),
        round_trip_runs: GatewaySide::default(),
    };
    let echo = setup.echo;
    let connect_time = Duration::from_secs_f64(plan.connect_seconds);
    let connect =
        move |cgroup: &Path| client::connect_rate(cgroup, echo, plan.connect_threads, connect_time);
    let round_trip_plan = RoundTripPlan {
        count: plan.round_trips,
        warmup: plan.warmup_round_trips,
        size: plan.message_bytes,
    };
    let round_trip = move |cgroup: &Path| client::round_trip(cgroup, echo, None, round_trip_plan);
    let round_trip_one_cpu =
        move |cgroup: &Path| client::round_trip(cgroup, echo, Some(ONE_CPU), round_trip_plan);

    let gateway_pid = setup.gateway.pid();
    let start = LoadSnapshot::now(&[gateway_pid]);
    for index in 0..plan.rounds {
        let round_start = LoadSnapshot::now(&[gateway_pid]);
        let gateway_first = index % 2 == 1;
        let say = |what: &str, value: String| {
            step::say(format_args!(
                "round {}/{}: {what}: {value}",
                index + 1,
                plan.rounds
            ));
        };

        let connect = run_pair(
            gateway_first,
            setup,
            &mut measurements.connect_rate_runs,
            connect,
        )?;
        check_connect(&connect.direct, echo.port(), "direct")?;
        check_connect(
            &connect.gateway,
            setup.gateway.listen_port(),
            "via the gateway",
        )?;
        say(
            "new connections/s",
            format!(
                "direct {:.0}, via gateway {:.0}",
                connect.direct.per_second(),
                connect.gateway.per_second()
            ),
        );

        let round_trip = run_pair(
            gateway_first,
            setup,
            &mut measurements.round_trip_runs,
            round_trip,
        )?;
        check_round_trips(&round_trip, echo.port(), setup.gateway.listen_port())?;
        say("round trip p50/p99 µs", describe(&round_trip));

        let round_trip_one_cpu = {
            let _pinned = PinnedThreads::pin(&[std::process::id(), setup.gateway.pid()], ONE_CPU)?;
            run_pair(
                gateway_first,
                setup,
                &mut measurements.round_trip_runs,
                round_trip_one_cpu,
            )?
        };
        check_round_trips(
            &round_trip_one_cpu,
            echo.port(),
            setup.gateway.listen_port(),
        )?;
        say(
            "round trip on one CPU p50/p99 µs",
            describe(&round_trip_one_cpu),
        );

        let load = LoadSnapshot::now(&[gateway_pid]).since(&round_start);
        say(
            "others' load",
            format!(
                "{:.2} CPUs busy with other work, {:.2} CPUs stolen by the hypervisor",
                load.others_cpus, load.steal_cpus
            ),
        );
        measurements.rounds.push(RoundResult {
            connect,
            round_trip,
            round_trip_one_cpu,
            load,
        });
    }
    measurements.load = LoadSnapshot::now(&[gateway_pid]).since(&start);
    count_logs(&mut measurements, setup.gateway)?;
    Ok(measurements)
}

/// Counts what the gateway logged during each side's runs.
fn count_logs(measurements: &mut Measurements, gateway: &BenchGateway) -> Result<()> {
    for side in [
        &mut measurements.connect_rate_runs,
        &mut measurements.round_trip_runs,
    ] {
        for &(from, to) in &side.log_spans {
            side.log = side.log.plus(gateway.log().count(from, to)?);
        }
    }
    Ok(())
}

/// Runs `workload` from the direct cgroup and from the agent cgroup, in
/// the order `gateway_first` says; adds the gateway side's program and
/// log counters to `side`.
fn run_pair<T>(
    gateway_first: bool,
    setup: &mut Setup<'_>,
    side: &mut GatewaySide,
    workload: impl Fn(&Path) -> Result<T>,
) -> Result<Pair<T>> {
    // A client killed by Ctrl-C fails; say "interrupted", not that.
    let workload = |cgroup: &Path| {
        let result = workload(cgroup);
        interrupt::check()?;
        result
    };
    let mut direct = None;
    let mut via_gateway = None;
    for gateway_turn in [gateway_first, !gateway_first] {
        interrupt::check()?;
        std::thread::sleep(SETTLE);
        if gateway_turn {
            let programs_before = setup.programs.snapshot()?;
            let log_before = setup.gateway.log().position();
            let cpu_before = process_cpu_ns(setup.gateway.pid()).unwrap_or(0);
            via_gateway = Some(workload(setup.agent.dir())?);
            std::thread::sleep(SETTLE);
            setup.gateway.ensure_running()?;
            side.programs
                .accumulate(&setup.programs.snapshot()?.since(&programs_before));
            side.gateway_cpu_ns += process_cpu_ns(setup.gateway.pid())
                .unwrap_or(0)
                .saturating_sub(cpu_before);
            side.log_spans
                .push((log_before, setup.gateway.log().position()));
        } else {
            direct = Some(workload(setup.direct.dir())?);
        }
    }
    match (direct, via_gateway) {
        (Some(direct), Some(gateway)) => Ok(Pair { direct, gateway }),
        _ => unreachable!("both turns ran"),
    }
}

fn describe(pair: &Pair<RoundTrip>) -> String {
    format!(
        "direct {:.1}/{:.1}, via gateway {:.1}/{:.1}",
        micros(pair.direct.p50_ns),
        micros(pair.direct.p99_ns),
        micros(pair.gateway.p50_ns),
        micros(pair.gateway.p99_ns)
    )
}

fn check_connect(run: &ConnectRate, expected_port: u16, side: &str) -> Result<()> {
    check_peer(run.peer_port, expected_port, side)?;
    if run.connections == 0 {
        bail!(
            "no connection succeeded {side}: {}",
            run.first_failure.as_deref().unwrap_or("no error recorded")
        );
    }
    if run.failures > 0 {
        step::say(format_args!(
            "warning: {} of {} connections failed {side}; first: {}",
            run.failures,
            run.failures + run.connections,
            run.first_failure.as_deref().unwrap_or("?")
        ));
    }
    Ok(())
}

fn check_round_trips(pair: &Pair<RoundTrip>, echo_port: u16, listen_port: u16) -> Result<()> {
    check_peer(pair.direct.peer_port, echo_port, "direct")?;
    check_peer(pair.gateway.peer_port, listen_port, "via the gateway")
}

/// The client's socket must have ended up where the side says: the echo
/// server direct, the gateway's listener when redirected.
fn check_peer(peer_port: u16, expected_port: u16, side: &str) -> Result<()> {
    if peer_port != expected_port {
        bail!(
            "the client's connection {side} went to port {peer_port}, not {expected_port}: \
             the redirect is {} for this cgroup",
            if side == "direct" {
                "unexpectedly active"
            } else {
                "not active"
            }
        );
    }
    Ok(())
}

#[expect(
    clippy::cast_precision_loss,
    reason = "nanosecond latencies far below 2^52"
)]
pub fn micros(nanos: u64) -> f64 {
    nanos as f64 / 1_000.0
}
