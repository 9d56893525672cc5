//! From measurements to verdicts: medians over rounds, the targets, and
//! the JSON written at the end (`report.rs` prints the tables).

use serde::Serialize;

use super::super::bpf_stats::ProgramRuns;
use super::super::client::RoundTrip;
use super::super::machine::Machine;
use super::super::percentile::median;
use super::rounds::{Measurements, Pair, Plan, RoundResult, micros};

/// New connections via the gateway, as a fraction of direct, at least.
const CONNECT_RATIO_TARGET: f64 = 0.5;
/// Added median round trip, at most.
const ADDED_ROUND_TRIP_TARGET_US: f64 = 50.0;
/// The connect4 hook per call, below.
const CONNECT4_TARGET_NS: f64 = 300.0;
pub const CONNECT4: &str = "gw_connect4";
/// The gateway's programs, in the order of a connection's life.
const PROGRAMS: [&str; 5] = [
    "gw_sock_create",
    CONNECT4,
    "gw_connect6",
    "gw_egress",
    "gw_sock_ops",
];

/// Medians over the rounds, direct and via the gateway.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Compared {
    pub direct: f64,
    pub gateway: f64,
}

impl Compared {
    fn of<T>(
        rounds: &[RoundResult],
        pair: impl Fn(&RoundResult) -> &Pair<T>,
        value: impl Fn(&T) -> f64,
    ) -> Self {
        let med = |values: Vec<f64>| median(&values).unwrap_or(f64::NAN);
        Self {
            direct: med(rounds
                .iter()
                .map(|round| value(&pair(round).direct))
                .collect()),
            gateway: med(rounds
                .iter()
                .map(|round| value(&pair(round).gateway))
                .collect()),
        }
    }

    pub fn added(self) -> f64 {
        self.gateway - self.direct
    }
}

/// p50 and p99 of round trips, in µs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RoundTrips {
    pub p50: Compared,
    pub p99: Compared,
    /// Gateway p50 − direct p50.
    pub added_p50: f64,
}

impl RoundTrips {
    fn of(rounds: &[RoundResult], pair: impl Fn(&RoundResult) -> &Pair<RoundTrip> + Copy) -> Self {
        let p50 = Compared::of(rounds, pair, |run| micros(run.p50_ns));
        Self {
            p50,
            p99: Compared::of(rounds, pair, |run| micros(run.p99_ns)),
            added_p50: p50.added(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub metric: &'static str,
    pub value: f64,
    pub threshold: String,
    pub pass: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProgramCost {
    pub name: String,
    pub calls: u64,
    pub run_time_ns: u64,
    pub ns_per_call: Option<f64>,
    /// Calls per connection made in the connect-rate runs.
    pub calls_per_connection: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub benchmark: &'static str,
    pub machine: Machine,
    pub gateway_binary: String,
    /// `GATEWAY_LOG` as given to the gateway (`None`: its default, info).
    pub gateway_log: Option<String>,
    pub plan: Plan,
    pub connections_per_second: Compared,
    pub connect_ratio: f64,
    /// Threads where the scheduler puts them.
    pub round_trip: RoundTrips,
    /// Client, echo server and gateway pinned to one CPU.
    pub round_trip_one_cpu: RoundTrips,
    pub programs: Vec<ProgramCost>,
    /// Run time of all the gateway's eBPF programs per connection in the
    /// connect-rate runs.
    pub ebpf_ns_per_connection: Option<f64>,
    /// CPU time of the gateway process per connection in the connect-rate
    /// runs (its eBPF programs run in the clients' context, not in it).
    pub gateway_cpu_us_per_connection: Option<f64>,
    /// Gateway log lines and bytes per connection in the connect-rate runs.
    pub log_lines_per_connection: Option<f64>,
    pub log_bytes_per_connection: Option<f64>,
    pub targets: Vec<Target>,
    pub measurements: Measurements,
}

impl Outcome {
    pub fn new(
        machine: Machine,
        gateway_binary: String,
        gateway_log: Option<String>,
        plan: Plan,
        measurements: Measurements,
    ) -> Self {
        let rounds = &measurements.rounds;
        let connections_per_second = Compared::of(
            rounds,
            |round| &round.connect,
            super::super::client::ConnectRate::per_second,
        );
        let connect_ratio = connections_per_second.gateway / connections_per_second.direct;
        let round_trip = RoundTrips::of(rounds, |round| &round.round_trip);
        let round_trip_one_cpu = RoundTrips::of(rounds, |round| &round.round_trip_one_cpu);

        let gateway_connections: u64 = rounds
            .iter()
            .map(|round| round.connect.gateway.connections)
            .sum();
        let programs = program_costs(&measurements, gateway_connections);
        let log = measurements.connect_rate_runs.log;
        let connect4_ns = programs
            .iter()
            .find(|program| program.name == CONNECT4)
            .and_then(|program| program.ns_per_call)
            .unwrap_or(f64::NAN);
        let round_trip_target = |metric, added: f64| Target {
            metric,
            value: added,
            threshold: format!("≤ +{ADDED_ROUND_TRIP_TARGET_US:.0} µs"),
            pass: added <= ADDED_ROUND_TRIP_TARGET_US,
        };
        let targets = vec![
            Target {
                metric: "new connections via gateway / direct",
                value: connect_ratio,
                threshold: format!("≥ {CONNECT_RATIO_TARGET:.2}×"),
                pass: connect_ratio >= CONNECT_RATIO_TARGET,
            },
            round_trip_target("added median round trip (µs)", round_trip.added_p50),
            round_trip_target(
                "added median round trip on one CPU (µs)",
                round_trip_one_cpu.added_p50,
            ),
            Target {
                metric: "gw_connect4 per call (ns)",
                value: connect4_ns,
                threshold: format!("< {CONNECT4_TARGET_NS:.0} ns"),
                pass: connect4_ns < CONNECT4_TARGET_NS,
            },
        ];
        Self {
            benchmark: "redirect",
            machine,
            gateway_binary,
            gateway_log,
            plan,
            connections_per_second,
            connect_ratio,
            round_trip,
            round_trip_one_cpu,
            programs,
            ebpf_ns_per_connection: per(
                measurements
                    .connect_rate_runs
                    .programs
                    .0
                    .values()
                    .map(|run| run.run_time_ns)
                    .sum(),
                gateway_connections,
            ),
            gateway_cpu_us_per_connection: per(
                measurements.connect_rate_runs.gateway_cpu_ns,
                gateway_connections,
            )
            .map(|ns| ns / 1_000.0),
            log_lines_per_connection: per(log.lines, gateway_connections),
            log_bytes_per_connection: per(log.bytes, gateway_connections),
            targets,
            measurements,
        }
    }

    pub fn missed_targets(&self) -> Vec<&'static str> {
        self.targets
            .iter()
            .filter(|target| !target.pass)
            .map(|target| target.metric)
            .collect()
    }
}

/// Costs of the known programs first, in connection order, then any other
/// program the gateway attached (e.g. the UDP sendmsg hooks).
fn program_costs(measurements: &Measurements, gateway_connections: u64) -> Vec<ProgramCost> {
    let mut all = ProgramRuns::default();
    for side in [
        &measurements.connect_rate_runs,
        &measurements.round_trip_runs,
    ] {
        all.accumulate(&side.programs);
    }
    let connect_runs = &measurements.connect_rate_runs.programs;
    let mut names: Vec<String> = PROGRAMS.iter().map(|&name| name.to_owned()).collect();
    names.extend(
        all.0
            .keys()
            .filter(|name| !PROGRAMS.contains(&name.as_str()))
            .cloned(),
    );
    names
        .into_iter()
        .map(|name| {
            let run = all.get(&name);
            ProgramCost {
                calls: run.calls,
                run_time_ns: run.run_time_ns,
                ns_per_call: run.ns_per_call(),
                calls_per_connection: per(connect_runs.get(&name).calls, gateway_connections),
                name,
            }
        })
        .collect()
}

#[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
fn per(count: u64, connections: u64) -> Option<f64> {
    (connections > 0).then(|| count as f64 / connections as f64)
}
