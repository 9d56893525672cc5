//! Policy evaluation time: the policy engine's own micro-benchmark
//! (`policy::tests::scale::bench_decide_request`, an ignored test of
//! gateway-userspace, built from this tree's source), run with cargo and
//! its `policy-bench …` line parsed.

use std::process::Stdio;

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

use crate::{step, workspace};

const TEST: &str = "policy::tests::scale::bench_decide_request";

#[derive(Debug, Clone, Default, Serialize)]
pub struct PolicyBench {
    pub rules: Option<u64>,
    pub compile_ms: Option<u64>,
    /// Mean time of one HTTP request decision over a mix of requests.
    pub decide_request_ns: Option<u64>,
    /// Mean time of one raw TCP (address and port) decision.
    pub decide_connection_ns: Option<u64>,
    /// All 10,000 rules for one host, a request only the last one matches.
    pub one_host_worst_case_ns: Option<u64>,
    /// The line as printed.
    pub line: String,
}

pub fn run() -> Result<PolicyBench> {
    let mut command = step::command("cargo");
    command
        .args([
            "test",
            "--release",
            "--package",
            "gateway-userspace",
            "--",
            "--ignored",
            "--exact",
            TEST,
            "--nocapture",
        ])
        .current_dir(workspace::root())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    step::say(format_args!(
        "measuring policy evaluation: {}",
        step::describe(&command)
    ));
    let output = command.output().context("running cargo test")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "`cargo test … {TEST}` failed ({}):\n{stdout}",
            output.status
        );
    }
    let line = stdout
        .lines()
        .find(|line| line.starts_with("policy-bench "))
        .with_context(|| format!("no `policy-bench` line in the output of {TEST}:\n{stdout}"))?;
    Ok(parse(line))
}

fn parse(line: &str) -> PolicyBench {
    let value = |key: &str| {
        line.split_whitespace()
            .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
            .and_then(|value| value.parse().ok())
    };
    PolicyBench {
        rules: value("rules"),
        compile_ms: value("compile_ms"),
        decide_request_ns: value("decide_request_ns"),
        decide_connection_ns: value("decide_connection_ns"),
        one_host_worst_case_ns: value("one_host_worst_case_ns"),
        line: line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_line() {
        let bench = parse(
            "policy-bench rules=10000 compile_ms=41 decide_request_ns=312 decide_connection_ns=55 one_host_worst_case_ns=90210",
        );
        assert_eq!(bench.rules, Some(10_000));
        assert_eq!(bench.compile_ms, Some(41));
        assert_eq!(bench.decide_request_ns, Some(312));
        assert_eq!(bench.decide_connection_ns, Some(55));
        assert_eq!(bench.one_host_worst_case_ns, Some(90_210));
        assert_eq!(parse("policy-bench rules=x").rules, None);
    }
}
