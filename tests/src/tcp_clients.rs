//! The agent programs the tests run (curl, python, node) and how to read
//! their output.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::client::{Run, TimedCommand};

/// `curl` GET of `url` with no proxy and a hard time limit. The upstream
/// answers with its greeting line as the body.
pub fn curl_get(url: &str) -> TimedCommand {
    TimedCommand::new("curl")
        .args(["-sS", "-g", "--noproxy", "*", "--max-time", "10"])
        .arg(url)
}

/// `http://IP:PORT/` with IPv6 in brackets.
pub fn http_url(ip: IpAddr, port: u16) -> String {
    format!("http://{}/", SocketAddr::new(ip, port))
}

/// The python client (`fixtures/tcp_client.py`); `host` may be any literal
/// Python accepts, e.g. `::ffff:10.233.1.2` for a v4-mapped destination.
pub fn python_echo(host: &str, port: u16) -> TimedCommand {
    TimedCommand::new("python3")
        .arg(crate::preflight::fixture("tcp_client.py"))
        .arg(host)
        .arg(port.to_string())
        .arg("8")
        .timeout(Duration::from_secs(20))
}

/// The node client (`fixtures/tcp_client.js`).
pub fn node_echo(host: &str, port: u16) -> TimedCommand {
    TimedCommand::new("node")
        .arg(crate::preflight::fixture("tcp_client.js"))
        .arg(host)
        .arg(port.to_string())
        .timeout(Duration::from_secs(20))
}

/// The upstream's greeting line, `peer=<ip>:<port> local=<ip>:<port>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Greeting {
    pub peer: SocketAddr,
    pub local: SocketAddr,
}

impl Greeting {
    /// Finds and parses the greeting line in `text`, if any.
    pub fn find(text: &str) -> Option<Self> {
        let line = text.lines().find(|l| l.starts_with("peer="))?;
        let (peer, local) = line.strip_prefix("peer=")?.split_once(" local=")?;
        Some(Self {
            peer: peer.trim().parse().ok()?,
            local: local.trim().parse().ok()?,
        })
    }

    /// Panics unless `run` succeeded and printed a greeting.
    pub fn expect_in(run: &Run) -> Self {
        assert!(run.success(), "client failed: {run:#?}");
        Self::find(&run.stdout)
            .unwrap_or_else(|| panic!("no upstream greeting in the client's output: {run:#?}"))
    }
}

/// The JSON line the python and node clients print.
#[derive(Debug)]
pub struct EchoOutcome {
    pub sockname: Option<SocketAddr>,
    pub greeting: Option<Greeting>,
    pub echo: Option<String>,
    pub error: Option<String>,
}

impl EchoOutcome {
    pub fn parse(run: &Run) -> Self {
        let line = run
            .stdout
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("client printed no JSON: {run:#?}"));
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("client JSON {line:?}: {e}; {run:#?}"));
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        Self {
            sockname: text("sockname")
                .and_then(|s| s.parse::<SocketAddr>().ok())
                .map(|a| SocketAddr::new(a.ip().to_canonical(), a.port())),
            greeting: text("greeting").as_deref().and_then(Greeting::find),
            echo: text("echo"),
            error: text("error"),
        }
    }

    /// Panics unless the whole exchange (greeting + echo of "hello") happened.
    pub fn expect_relayed(run: &Run) -> (Self, Greeting) {
        let outcome = Self::parse(run);
        assert!(
            run.success() && outcome.echo.as_deref() == Some("hello"),
            "expected a full greeting + echo exchange: {outcome:?}; {run:#?}"
        );
        let greeting = outcome.greeting.expect("greeting present on success");
        (outcome, greeting)
    }

    /// Panics unless the client failed without hearing from any upstream,
    /// with one of the given errors (e.g. `ConnectionRefusedError`).
    pub fn expect_failed_with(run: &Run, errors: &[&str]) -> Self {
        let outcome = Self::parse(run);
        assert!(
            !run.success() && outcome.greeting.is_none(),
            "expected the connection to fail without any data from upstream, \
             but: {outcome:?}; {run:#?}"
        );
        let error = outcome.error.as_deref().unwrap_or_default();
        assert!(
            errors.contains(&error),
            "expected the client to fail with one of {errors:?}, got {error:?}: {run:#?}"
        );
        outcome
    }
}
