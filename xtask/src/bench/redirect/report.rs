//! The tables printed at the end of `bench redirect`.

use super::super::table::Table;
use super::outcome::{CONNECT4, Compared, Outcome};
use super::rounds::micros;

impl Outcome {
    /// The summary table.
    pub fn table(&self) -> String {
        let verdict = |metric_prefix: &str| {
            self.targets
                .iter()
                .find(|target| target.metric.starts_with(metric_prefix))
                .map_or_else(
                    || ["–".to_owned(), "–".to_owned()],
                    |target| {
                        [
                            target.threshold.clone(),
                            if target.pass { "pass" } else { "FAIL" }.to_owned(),
                        ]
                    },
                )
        };
        let mut table = Table::new([
            "metric",
            "direct",
            "via gateway",
            "ratio or delta",
            "target",
            "pass/FAIL",
        ]);
        let [target, pass] = verdict("new connections");
        table.row(vec![
            format!("new connections/s ({} threads)", self.plan.connect_threads),
            format!("{:.0}", self.connections_per_second.direct),
            format!("{:.0}", self.connections_per_second.gateway),
            format!("{:.2}×", self.connect_ratio),
            target,
            pass,
        ]);
        let bytes = self.plan.message_bytes;
        for (label, trips, target_metric) in [
            ("", &self.round_trip, "added median round trip (µs)"),
            (
                ", one CPU",
                &self.round_trip_one_cpu,
                "added median round trip on one CPU",
            ),
        ] {
            let [target, pass] = verdict(target_metric);
            table.row(round_trip_row(
                format!("round trip p50, {bytes} B{label} (µs)"),
                trips.p50,
                target,
                pass,
            ));
            table.row(round_trip_row(
                format!("round trip p99, {bytes} B{label} (µs)"),
                trips.p99,
                "–".to_owned(),
                "–".to_owned(),
            ));
        }
        for program in &self.programs {
            let [target, pass] = if program.name == CONNECT4 {
                verdict(CONNECT4)
            } else {
                ["–".to_owned(), "–".to_owned()]
            };
            table.row(vec![
                format!("{} (ns/call)", program.name),
                "–".to_owned(),
                program
                    .ns_per_call
                    .map_or_else(|| "not run".to_owned(), |ns| format!("{ns:.0}")),
                program
                    .calls_per_connection
                    .map_or_else(String::new, |calls| format!("{calls:.1} calls/conn")),
                target,
                pass,
            ]);
        }
        self.per_connection_rows(&mut table);
        table.render()
    }

    /// What one connection costs on the gateway's side.
    fn per_connection_rows(&self, table: &mut Table) {
        table.row(vec![
            "all eBPF programs per connection".to_owned(),
            "–".to_owned(),
            self.ebpf_ns_per_connection
                .map_or_else(|| "–".to_owned(), |ns| format!("{ns:.0} ns")),
            String::new(),
            "–".to_owned(),
            "–".to_owned(),
        ]);
        table.row(vec![
            "gateway process CPU per connection".to_owned(),
            "–".to_owned(),
            self.gateway_cpu_us_per_connection
                .map_or_else(|| "–".to_owned(), |us| format!("{us:.1} µs")),
            "user + system".to_owned(),
            "–".to_owned(),
            "–".to_owned(),
        ]);
        table.row(vec![
            "gateway log per connection".to_owned(),
            "–".to_owned(),
            match (self.log_lines_per_connection, self.log_bytes_per_connection) {
                (Some(lines), Some(bytes)) => format!("{lines:.2} lines, {bytes:.0} B"),
                _ => "–".to_owned(),
            },
            format!(
                "level {}",
                self.gateway_log.as_deref().unwrap_or("info (default)")
            ),
            "–".to_owned(),
            "–".to_owned(),
        ]);
    }

    /// One line per round, to show the spread behind the medians.
    pub fn rounds_table(&self) -> String {
        let mut table = Table::new([
            "round",
            "conn/s direct",
            "conn/s gateway",
            "ratio",
            "p50 direct µs",
            "p50 gateway µs",
            "p50 1-CPU direct µs",
            "p50 1-CPU gateway µs",
            "others' CPUs",
            "steal CPUs",
        ]);
        for (index, round) in self.measurements.rounds.iter().enumerate() {
            let connect = &round.connect;
            table.row(vec![
                (index + 1).to_string(),
                format!("{:.0}", connect.direct.per_second()),
                format!("{:.0}", connect.gateway.per_second()),
                format!(
                    "{:.2}",
                    connect.gateway.per_second() / connect.direct.per_second()
                ),
                format!("{:.1}", micros(round.round_trip.direct.p50_ns)),
                format!("{:.1}", micros(round.round_trip.gateway.p50_ns)),
                format!("{:.1}", micros(round.round_trip_one_cpu.direct.p50_ns)),
                format!("{:.1}", micros(round.round_trip_one_cpu.gateway.p50_ns)),
                format!("{:.2}", round.load.others_cpus),
                format!("{:.2}", round.load.steal_cpus),
            ]);
        }
        table.render()
    }
}

fn round_trip_row(metric: String, values: Compared, target: String, pass: String) -> Vec<String> {
    vec![
        metric,
        format!("{:.1}", values.direct),
        format!("{:.1}", values.gateway),
        format!("{:+.1} µs", values.added()),
        target,
        pass,
    ]
}
