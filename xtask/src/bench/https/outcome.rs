//! From measurements to verdicts: medians over rounds per route, CPU per
//! unit of work, the targets of issue 3, and the JSON written at the end
//! (`report.rs` prints the tables).

use serde::Serialize;

use super::super::machine::Machine;
use super::super::percentile::median;
use super::phases::{Measurements, Plan, Round, Route, RouteRun};
use super::policy_bench::PolicyBench;

/// Keep-alive requests via the gateway, as a fraction of direct, at least.
pub const KEEP_ALIVE_VS_DIRECT: f64 = 0.4;
/// Keep-alive requests via the gateway, as a multiple of mitmproxy, at least.
pub const KEEP_ALIVE_VS_MITMPROXY: f64 = 20.0;
/// New intercepted TLS connections per gateway CPU-second, at least.
pub const CONNECTIONS_PER_CORE: f64 = 3_000.0;
/// Gateway memory per idle intercepted connection, at most.
pub const IDLE_KIB: f64 = 64.0;
/// One policy decision with 10,000 rules, below.
pub const POLICY_NS: f64 = 5_000.0;

/// One figure on each route (`None`: not applicable or not measured).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PerRoute {
    pub direct: Option<f64>,
    pub gateway: Option<f64>,
    pub mitmproxy: Option<f64>,
    pub nginx: Option<f64>,
}

impl PerRoute {
    fn of(value: impl Fn(Route) -> Option<f64>) -> Self {
        Self {
            direct: value(Route::Direct),
            gateway: value(Route::Gateway),
            mitmproxy: value(Route::Mitmproxy),
            nginx: value(Route::Nginx),
        }
    }

    pub fn get(&self, route: Route) -> Option<f64> {
        match route {
            Route::Direct => self.direct,
            Route::Gateway => self.gateway,
            Route::Mitmproxy => self.mitmproxy,
            Route::Nginx => self.nginx,
        }
    }

    /// Gateway ÷ direct.
    pub fn gateway_vs_direct(&self) -> Option<f64> {
        Some(self.gateway? / self.direct?)
    }

    /// Gateway ÷ mitmproxy.
    pub fn gateway_vs_mitmproxy(&self) -> Option<f64> {
        Some(self.gateway? / self.mitmproxy?)
    }

    /// Gateway ÷ nginx.
    pub fn gateway_vs_nginx(&self) -> Option<f64> {
        Some(self.gateway? / self.nginx?)
    }

    /// Nginx ÷ direct.
    pub fn nginx_vs_direct(&self) -> Option<f64> {
        Some(self.nginx? / self.direct?)
    }
}

/// CPU cores busy on average during a workload's runs.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Cores {
    pub client: PerRoute,
    pub upstream: PerRoute,
    pub proxy: PerRoute,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub keep_alive_requests_per_second: PerRoute,
    pub new_connections_per_second: PerRoute,
    pub download_mib_per_second: PerRoute,
    /// Every download run got its whole body within the time allowed.
    pub downloads_complete: bool,
    pub idle_kib_per_connection: PerRoute,
    pub proxy_cpu_us_per_request: PerRoute,
    pub requests_per_proxy_cpu_second: PerRoute,
    pub proxy_cpu_us_per_connection: PerRoute,
    pub connections_per_proxy_cpu_second: PerRoute,
    pub proxy_cpu_ms_per_mib: PerRoute,
    pub upstream_cpu_us_per_request: PerRoute,
    pub upstream_cpu_us_per_connection: PerRoute,
    pub keep_alive_cores: Cores,
    pub new_connection_cores: Cores,
    pub gateway_log_lines_per_request: Option<f64>,
    /// Keep-alive requests/s of the floor, nginx, against direct and the
    /// gateway: information beside the targets, not one.
    pub keep_alive_nginx_vs_direct: Option<f64>,
    pub keep_alive_gateway_vs_nginx: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub metric: &'static str,
    pub value: Option<f64>,
    pub threshold: String,
    pub pass: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyResult {
    pub bench: Option<PolicyBench>,
    /// Why there is no figure, if there is none.
    pub error: Option<String>,
}

/// What was benchmarked, besides the plan.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub gateway_binary: String,
    /// `GATEWAY_LOG` as given to the gateway (`None`: its default, info).
    pub gateway_log: Option<String>,
    /// `mitmdump --version`'s first line.
    pub mitmproxy: String,
    /// `nginx -V`'s version (`nginx/1.22.1`) and the binary run.
    pub nginx: String,
    pub nginx_binary: String,
    /// What the upstream offers by ALPN (`BENCH_HTTPS_UPSTREAM`).
    pub upstream_alpn: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub benchmark: &'static str,
    pub machine: Machine,
    pub settings: Settings,
    pub plan: Plan,
    pub summary: Summary,
    pub targets: Vec<Target>,
    pub policy: PolicyResult,
    pub measurements: Measurements,
}

#[expect(clippy::cast_precision_loss, reason = "counters far below 2^52")]
fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

/// The median over rounds of `value` on `route`.
fn median_of(rounds: &[Round], route: Route, value: impl Fn(&RouteRun) -> f64) -> Option<f64> {
    let values: Vec<f64> = rounds
        .iter()
        .filter_map(|round| round.get(route))
        .map(value)
        .collect();
    median(&values)
}

/// Sums over rounds of (`numerator`, `denominator`) on `route`, divided.
fn pooled(
    rounds: &[Round],
    route: Route,
    numerator: impl Fn(&RouteRun) -> Option<u64>,
    denominator: impl Fn(&RouteRun) -> u64,
) -> Option<f64> {
    let runs: Vec<&RouteRun> = rounds.iter().filter_map(|r| r.get(route)).collect();
    let top: Option<u64> = runs.iter().map(|run| numerator(run)).sum();
    ratio(top?, runs.iter().map(|run| denominator(run)).sum())
}

fn cores(rounds: &[Round]) -> Cores {
    let busy = |cpu: &dyn Fn(&RouteRun) -> Option<u64>| {
        PerRoute::of(|route| pooled(rounds, route, cpu, |run| run.wall_ns))
    };
    Cores {
        client: busy(&|run| Some(run.client.cpu_ns)),
        upstream: busy(&|run| Some(run.upstream_cpu_ns)),
        proxy: busy(&|run| run.proxy_cpu_ns),
    }
}

impl Summary {
    pub fn of(m: &Measurements) -> Self {
        let mib = f64::from(1 << 20);
        let per_second = |rounds: &[Round]| {
            PerRoute::of(|route| median_of(rounds, route, |run| run.client.per_second()))
        };
        let per_unit = |rounds: &[Round], cpu: fn(&RouteRun) -> Option<u64>, scale: f64| {
            PerRoute::of(|route| {
                pooled(rounds, route, cpu, |run| run.client.all()).map(|ns| ns * scale)
            })
        };
        let proxy_cpu = |run: &RouteRun| run.proxy_cpu_ns;
        let upstream_cpu = |run: &RouteRun| Some(run.upstream_cpu_ns);
        let proxy_cpu_us_per_request = per_unit(&m.keep_alive, proxy_cpu, 1e-3);
        let proxy_cpu_us_per_connection = per_unit(&m.new_connections, proxy_cpu, 1e-3);
        let per_cpu_second = |us: &PerRoute| PerRoute::of(|route| us.get(route).map(|us| 1e6 / us));
        let keep_alive_requests_per_second = per_second(&m.keep_alive);
        Self {
            keep_alive_nginx_vs_direct: keep_alive_requests_per_second.nginx_vs_direct(),
            keep_alive_gateway_vs_nginx: keep_alive_requests_per_second.gateway_vs_nginx(),
            keep_alive_requests_per_second,
            new_connections_per_second: per_second(&m.new_connections),
            download_mib_per_second: PerRoute::of(|route| {
                median_of(&m.download, route, |run| run.client.per_second() / mib)
            }),
            downloads_complete: m
                .download
                .iter()
                .flat_map(|round| &round.runs)
                .all(|run| run.client.complete),
            idle_kib_per_connection: PerRoute::of(|route| {
                m.memory
                    .iter()
                    .find(|run| run.route == route)
                    .map(|run| run.kib_per_connection)
            }),
            requests_per_proxy_cpu_second: per_cpu_second(&proxy_cpu_us_per_request),
            proxy_cpu_us_per_request,
            connections_per_proxy_cpu_second: per_cpu_second(&proxy_cpu_us_per_connection),
            proxy_cpu_us_per_connection,
            // ns per byte × 2^20 bytes per MiB ÷ 10^6 ns per ms.
            proxy_cpu_ms_per_mib: per_unit(&m.download, proxy_cpu, mib / 1e6),
            upstream_cpu_us_per_request: per_unit(&m.keep_alive, upstream_cpu, 1e-3),
            upstream_cpu_us_per_connection: per_unit(&m.new_connections, upstream_cpu, 1e-3),
            keep_alive_cores: cores(&m.keep_alive),
            new_connection_cores: cores(&m.new_connections),
            gateway_log_lines_per_request: pooled(
                &m.keep_alive,
                Route::Gateway,
                |run| run.gateway_log.map(|log| log.lines),
                |run| run.client.all(),
            ),
        }
    }
}

impl Outcome {
    pub fn new(
        machine: Machine,
        settings: Settings,
        plan: Plan,
        policy: PolicyResult,
        measurements: Measurements,
    ) -> Self {
        let summary = Summary::of(&measurements);
        let targets = targets(&summary, &policy);
        Self {
            benchmark: "https",
            machine,
            settings,
            plan,
            summary,
            targets,
            policy,
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

/// A figure that is missing fails its target.
fn targets(summary: &Summary, policy: &PolicyResult) -> Vec<Target> {
    let at_least = |metric, value: Option<f64>, threshold: f64, unit: &str| Target {
        metric,
        value,
        threshold: format!("≥ {threshold}{unit}"),
        pass: value.is_some_and(|v| v >= threshold),
    };
    let keep_alive = &summary.keep_alive_requests_per_second;
    #[expect(clippy::cast_precision_loss, reason = "nanoseconds far below 2^52")]
    let policy_ns = policy
        .bench
        .as_ref()
        .and_then(|bench| bench.decide_request_ns)
        .map(|ns| ns as f64);
    vec![
        at_least(
            "keep-alive HTTPS requests/s, gateway ÷ direct",
            keep_alive.gateway_vs_direct(),
            KEEP_ALIVE_VS_DIRECT,
            "×",
        ),
        at_least(
            "keep-alive HTTPS requests/s, gateway ÷ mitmproxy",
            keep_alive.gateway_vs_mitmproxy(),
            KEEP_ALIVE_VS_MITMPROXY,
            "×",
        ),
        at_least(
            "new intercepted TLS connections per gateway CPU-second",
            summary.connections_per_proxy_cpu_second.gateway,
            CONNECTIONS_PER_CORE,
            "",
        ),
        Target {
            metric: "gateway memory per idle intercepted connection (KiB)",
            value: summary.idle_kib_per_connection.gateway,
            threshold: format!("≤ {IDLE_KIB} KiB"),
            pass: summary
                .idle_kib_per_connection
                .gateway
                .is_some_and(|kib| kib <= IDLE_KIB),
        },
        Target {
            metric: "policy decision with 10,000 rules (ns)",
            value: policy_ns,
            threshold: format!("< {POLICY_NS} ns"),
            pass: policy_ns.is_some_and(|ns| ns < POLICY_NS),
        },
    ]
}
