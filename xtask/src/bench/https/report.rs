//! The tables printed at the end of `bench https`.

use super::super::table::Table;
use super::outcome::{Cores, Outcome, PerRoute};
use super::phases::{Round, Route};

const DASH: &str = "–";

impl Outcome {
    /// Every figure on every route, with the gateway's ratios.
    pub fn figures_table(&self) -> String {
        let mut table = Table::new([
            "metric",
            "direct",
            "via gateway",
            "via mitmproxy",
            "via nginx",
            "gateway ÷ direct",
            "gateway ÷ mitmproxy",
            "gateway ÷ nginx",
        ]);
        self.traffic_rows(&mut table);
        self.cost_rows(&mut table);
        self.policy_rows(&mut table);
        table.render()
    }

    /// What the clients got.
    fn traffic_rows(&self, table: &mut Table) {
        let s = &self.summary;
        let plan = &self.plan;
        route_row(
            table,
            format!(
                "keep-alive HTTPS requests/s ({} threads × {} connections)",
                plan.client_threads,
                plan.keep_alive_connections / plan.client_threads.max(1)
            ),
            &s.keep_alive_requests_per_second,
            0,
            true,
        );
        route_row(
            table,
            format!(
                "new TLS connections/s ({} in flight)",
                plan.new_connections_in_flight
            ),
            &s.new_connections_per_second,
            0,
            true,
        );
        route_row(
            table,
            format!(
                "large download, {} MiB (MiB/s){}",
                plan.download_bytes >> 20,
                if s.downloads_complete {
                    ""
                } else {
                    ", some cut short"
                }
            ),
            &s.download_mib_per_second,
            0,
            true,
        );
        route_row(
            table,
            format!(
                "memory per idle connection, {} connections (KiB; RSS of upstream / gateway / mitmdump / nginx master + workers)",
                plan.idle_connections
            ),
            &s.idle_kib_per_connection,
            1,
            false,
        );
    }

    /// What the processes spent on it.
    fn cost_rows(&self, table: &mut Table) {
        let s = &self.summary;
        for (metric, values, decimals) in [
            (
                "proxy CPU per keep-alive request (µs)",
                &s.proxy_cpu_us_per_request,
                1,
            ),
            (
                "keep-alive requests per proxy CPU-second",
                &s.requests_per_proxy_cpu_second,
                0,
            ),
            (
                "proxy CPU per new connection (µs)",
                &s.proxy_cpu_us_per_connection,
                1,
            ),
            (
                "new connections per proxy CPU-second",
                &s.connections_per_proxy_cpu_second,
                0,
            ),
            (
                "proxy CPU per MiB downloaded (ms)",
                &s.proxy_cpu_ms_per_mib,
                2,
            ),
            (
                "upstream CPU per keep-alive request (µs)",
                &s.upstream_cpu_us_per_request,
                1,
            ),
            (
                "upstream CPU per new connection (µs)",
                &s.upstream_cpu_us_per_connection,
                1,
            ),
        ] {
            route_row(table, metric.to_owned(), values, decimals, false);
        }
        table.row(cores_row("CPUs busy, keep-alive", &s.keep_alive_cores));
        table.row(cores_row(
            "CPUs busy, new connections",
            &s.new_connection_cores,
        ));
        table.row(gateway_only(
            &format!(
                "gateway log lines per request (level {})",
                self.settings.gateway_log.as_deref().unwrap_or("info")
            ),
            s.gateway_log_lines_per_request
                .map_or_else(|| DASH.to_owned(), |lines| format!("{lines:.2}")),
        ));
    }

    /// The policy engine's micro-benchmark.
    fn policy_rows(&self, table: &mut Table) {
        let policy = self.policy.bench.as_ref();
        let rules = policy
            .and_then(|bench| bench.rules)
            .map_or_else(|| "?".to_owned(), |rules| rules.to_string());
        let missing = if self.policy.error.is_some() {
            "not measured"
        } else {
            DASH
        };
        for (metric, value) in [
            (
                format!("policy: one HTTP request decision, {rules} rules (ns)"),
                policy.and_then(|b| b.decide_request_ns),
            ),
            (
                format!("policy: one TCP connection decision, {rules} rules (ns)"),
                policy.and_then(|b| b.decide_connection_ns),
            ),
            (
                format!("policy: worst case, {rules} rules for one host (ns)"),
                policy.and_then(|b| b.one_host_worst_case_ns),
            ),
        ] {
            table.row(gateway_only(
                &metric,
                value.map_or_else(|| missing.to_owned(), |ns| ns.to_string()),
            ));
        }
    }

    /// The targets of issue 3.
    pub fn targets_table(&self) -> String {
        let mut table = Table::new(["target", "value", "threshold", "pass/FAIL"]);
        for target in &self.targets {
            table.row(vec![
                target.metric.to_owned(),
                target.value.map_or_else(
                    || "not measured".to_owned(),
                    |v| {
                        if v >= 100.0 {
                            format!("{v:.0}")
                        } else {
                            format!("{v:.2}")
                        }
                    },
                ),
                target.threshold.clone(),
                if target.pass { "pass" } else { "FAIL" }.to_owned(),
            ]);
        }
        table.render()
    }

    /// The floor beside the targets: what nginx, a TLS-terminating proxy
    /// that does nothing else, reaches.
    pub fn reference_line(&self) -> String {
        let ratio = |value: Option<f64>| {
            value.map_or_else(|| "not measured".to_owned(), |v| format!("{v:.2}"))
        };
        format!(
            "reference (not a target): nginx keep-alive ÷ direct = {}; gateway ÷ nginx = {}",
            ratio(self.summary.keep_alive_nginx_vs_direct),
            ratio(self.summary.keep_alive_gateway_vs_nginx)
        )
    }

    /// One line per round, to show the spread behind the medians.
    pub fn rounds_table(&self) -> String {
        let mut table = Table::new([
            "workload",
            "round",
            "order",
            "direct",
            "via gateway",
            "via mitmproxy",
            "via nginx",
            "gateway ÷ direct",
            "gateway ÷ nginx",
            "others' CPUs",
        ]);
        let m = &self.measurements;
        let mib = f64::from(1 << 20);
        let workloads: [(&str, &[Round], f64); 3] = [
            ("keep-alive requests/s", &m.keep_alive, 1.0),
            ("new connections/s", &m.new_connections, 1.0),
            ("download MiB/s", &m.download, mib),
        ];
        for (name, rounds, divisor) in workloads {
            for (index, round) in rounds.iter().enumerate() {
                let figure = |route| {
                    round
                        .get(route)
                        .map(|run| run.client.per_second() / divisor)
                };
                let cell =
                    |route| figure(route).map_or_else(|| DASH.to_owned(), |v| format!("{v:.0}"));
                let order: Vec<&str> = round.runs.iter().map(|run| run.route.letter()).collect();
                let gateway_vs = |other| {
                    figure(Route::Gateway)
                        .zip(figure(other))
                        .map_or_else(|| DASH.to_owned(), |(g, o)| format!("{:.2}", g / o))
                };
                table.row(vec![
                    name.to_owned(),
                    (index + 1).to_string(),
                    order.join(""),
                    cell(Route::Direct),
                    cell(Route::Gateway),
                    cell(Route::Mitmproxy),
                    cell(Route::Nginx),
                    gateway_vs(Route::Direct),
                    gateway_vs(Route::Nginx),
                    format!("{:.2}", round.load.others_cpus),
                ]);
            }
        }
        table.render()
    }
}

/// "client 0.9 + upstream 0.6 + proxy 0.8" per route.
fn cores_row(metric: &str, cores: &Cores) -> Vec<String> {
    let cell = |route| {
        let part = |name: &str, value: Option<f64>| value.map(|v| format!("{name} {v:.2}"));
        [
            part("client", cores.client.get(route)),
            part("upstream", cores.upstream.get(route)),
            part("proxy", cores.proxy.get(route)),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" + ")
    };
    vec![
        metric.to_owned(),
        cell(Route::Direct),
        cell(Route::Gateway),
        cell(Route::Mitmproxy),
        cell(Route::Nginx),
        DASH.to_owned(),
        DASH.to_owned(),
        DASH.to_owned(),
    ]
}

/// One figure per route, and the gateway's ratios if `ratios`.
fn route_row(table: &mut Table, metric: String, values: &PerRoute, decimals: usize, ratios: bool) {
    let cell =
        |value: Option<f64>| value.map_or_else(|| DASH.to_owned(), |v| format!("{v:.decimals$}"));
    let ratio = |value: Option<f64>| {
        if ratios {
            value.map_or_else(|| DASH.to_owned(), |v| format!("{v:.2}×"))
        } else {
            DASH.to_owned()
        }
    };
    table.row(vec![
        metric,
        cell(values.direct),
        cell(values.gateway),
        cell(values.mitmproxy),
        cell(values.nginx),
        ratio(values.gateway_vs_direct()),
        ratio(values.gateway_vs_mitmproxy()),
        ratio(values.gateway_vs_nginx()),
    ]);
}

/// A figure of the gateway alone.
fn gateway_only(metric: &str, value: String) -> Vec<String> {
    vec![
        metric.to_owned(),
        DASH.to_owned(),
        value,
        DASH.to_owned(),
        DASH.to_owned(),
        DASH.to_owned(),
        DASH.to_owned(),
        DASH.to_owned(),
    ]
}
