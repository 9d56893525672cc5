//! The HTTPS agents the interception tests run (curl, Python, Node, git, a
//! WebSocket client), all trusting one CA file and resolving names only
//! through a fixed map (never the system resolver), and how to read their
//! output and the gateway's JSON answers.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::client::{Run, TimedCommand};

/// What every agent gets: the CA to trust and where names point.
#[derive(Clone, Debug)]
pub struct AgentSetup {
    /// The CA file given to each client; `None`: the clients' defaults,
    /// which read the environment (`SSL_CERT_FILE`, `CURL_CA_BUNDLE`, …).
    pub ca_file: Option<PathBuf>,
    pub resolve: BTreeMap<String, IpAddr>,
}

/// `(host, port)` of an `https://` or `http://` URL.
pub fn host_port(url: &str) -> (String, u16) {
    let (scheme, rest) = url.split_once("://").expect("URL with a scheme");
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let default = if scheme == "https" { 443 } else { 80 };
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']').expect("closing bracket");
            (host, after.strip_prefix(':'))
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = port.map_or(default, |p| p.parse().expect("numeric port"));
    (host.to_owned(), port)
}

impl AgentSetup {
    fn resolve_json(&self) -> serde_json::Value {
        self.resolve
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::from(v.to_string())))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    /// `curl` with the CA and `--resolve` for the URL's port; prints the
    /// body, then a last line `<status> <http version> <content type>`. Add `-X`, `-H`,
    /// `--http2` … with [`TimedCommand::args`], then the URL last.
    pub fn curl(&self, url: &str) -> TimedCommand {
        let (_, port) = host_port(url);
        let mut cmd = TimedCommand::new("curl")
            .args(["-sS", "--noproxy", "*", "--max-time", "30"])
            .args(["-w", "\n%{http_code} %{http_version} %{content_type}\n"]);
        if let Some(ca) = &self.ca_file {
            cmd = cmd.arg("--cacert").arg(ca);
        }
        for (name, ip) in &self.resolve {
            cmd = cmd.arg("--resolve").arg(format!("{name}:{port}:{ip}"));
        }
        cmd.timeout(Duration::from_secs(40))
    }

    /// `fixtures/http_client.py` with `lib` (`urllib`, `requests`, `http.client`).
    pub fn python(&self, lib: &str, steps: &[Step]) -> TimedCommand {
        self.python_command(lib, steps, TimedCommand::new("python3"))
    }

    /// The same plan as arguments of `program` (a wrapper such as `gateway exec … -- python3`).
    pub fn python_command(&self, lib: &str, steps: &[Step], program: TimedCommand) -> TimedCommand {
        let plan = serde_json::json!({
            "lib": lib,
            "cafile": self.ca_file,
            "resolve": self.resolve_json(),
            "steps": steps.iter().map(Step::json).collect::<Vec<_>>(),
        });
        program
            .arg(crate::preflight::fixture("http_client.py"))
            .arg(plan.to_string())
            .timeout(Duration::from_mins(1))
    }

    /// `fixtures/fetch_client.js` (Node's global fetch), CA via `NODE_EXTRA_CA_CERTS`.
    pub fn node_fetch(&self, steps: &[Step]) -> TimedCommand {
        let plan = serde_json::json!({
            "resolve": self.resolve_json(),
            "steps": steps.iter().map(Step::json).collect::<Vec<_>>(),
        });
        let mut cmd = TimedCommand::new("node");
        if let Some(ca) = &self.ca_file {
            cmd = cmd.env("NODE_EXTRA_CA_CERTS", ca);
        }
        cmd.arg(crate::preflight::fixture("fetch_client.js"))
            .arg(plan.to_string())
            .timeout(Duration::from_mins(1))
    }

    /// `git clone URL DEST` with the CA in `GIT_SSL_CAINFO` and the name
    /// pinned with `http.curloptResolve`; `home` isolates git from any
    /// user configuration.
    pub fn git_clone(&self, url: &str, dest: &Path, home: &Path) -> TimedCommand {
        let (_, port) = host_port(url);
        let mut cmd = TimedCommand::new("git");
        if let Some(ca) = &self.ca_file {
            cmd = cmd.env("GIT_SSL_CAINFO", ca);
        }
        cmd = cmd
            .env("HOME", home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0");
        for (name, ip) in &self.resolve {
            cmd = cmd
                .arg("-c")
                .arg(format!("http.curloptResolve={name}:{port}:{ip}"));
        }
        cmd.args(["clone", "-q", url])
            .arg(dest)
            .timeout(Duration::from_mins(1))
    }

    /// `fixtures/ws_client.py`: a WebSocket upgrade of `path` at `host:port`.
    pub fn websocket(&self, host: &str, port: u16, path: &str, message: &str) -> TimedCommand {
        let ip = self
            .resolve
            .get(host)
            .unwrap_or_else(|| panic!("{host} is not in the agents' resolve map"));
        let ca = self
            .ca_file
            .as_ref()
            .expect("the WebSocket client needs a CA file");
        TimedCommand::new("python3")
            .arg(crate::preflight::fixture("ws_client.py"))
            .args([host, &ip.to_string(), &port.to_string(), path])
            .arg(ca)
            .arg(message)
            .timeout(Duration::from_secs(30))
    }
}

/// One request of a Python or Node plan.
#[derive(Clone, Debug, Default)]
pub struct Step {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// Wait for this file to exist before sending.
    pub wait_for: Option<PathBuf>,
    /// Create this file after the response.
    pub signal: Option<PathBuf>,
}

impl Step {
    pub fn new(method: &str, url: &str) -> Self {
        Self {
            method: method.to_owned(),
            url: url.to_owned(),
            ..Self::default()
        }
    }

    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    #[must_use]
    pub fn body(mut self, body: &str) -> Self {
        self.body = Some(body.to_owned());
        self
    }

    #[must_use]
    pub fn wait_for(mut self, file: &Path) -> Self {
        self.wait_for = Some(file.to_owned());
        self
    }

    #[must_use]
    pub fn signal(mut self, file: &Path) -> Self {
        self.signal = Some(file.to_owned());
        self
    }

    fn json(&self) -> serde_json::Value {
        let headers: serde_json::Map<String, serde_json::Value> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        let mut v = serde_json::json!({
            "method": self.method,
            "url": self.url,
            "headers": headers,
        });
        if let Some(body) = &self.body {
            v["body"] = body.clone().into();
        }
        if let Some(f) = &self.wait_for {
            v["wait_for"] = f.to_string_lossy().into_owned().into();
        }
        if let Some(f) = &self.signal {
            v["signal"] = f.to_string_lossy().into_owned().into();
        }
        v
    }
}

/// One response as a client reported it.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub content_type: Option<String>,
    /// `http.client` only: the local address of the one connection.
    pub sockname: Option<String>,
    /// The HTTP version curl used (`1.1`, `2`).
    pub http_version: Option<String>,
}

impl Reply {
    /// The body as JSON; panics with the body otherwise.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.body.trim())
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}): {self:#?}"))
    }

    /// The upstream's echo of the request (a 200 with its JSON).
    pub fn expect_echo(&self) -> Echo {
        assert_eq!(self.status, 200, "expected the upstream's echo: {self:#?}");
        Echo(self.json())
    }

    /// The gateway's JSON refusal with this status and `error` code.
    pub fn expect_refusal(&self, status: u16, error: &str) -> Refusal {
        assert_eq!(
            self.status, status,
            "expected a {status} from the gateway: {self:#?}"
        );
        let ct = self.content_type.as_deref().unwrap_or_default();
        assert!(
            ct.starts_with("application/json"),
            "the refusal should be application/json: {self:#?}"
        );
        let json = self.json();
        let refusal = Refusal {
            error: text(&json, "error"),
            message: text(&json, "message"),
            rule: json.get("rule").and_then(|r| r.as_str()).map(str::to_owned),
            request_id: text(&json, "request_id"),
        };
        assert_eq!(refusal.error, error, "{self:#?}");
        assert!(
            !refusal.request_id.is_empty() && !refusal.message.is_empty(),
            "a refusal carries a message and a request id: {self:#?}"
        );
        refusal
    }
}

fn text(json: &serde_json::Value, key: &str) -> String {
    json.get(key)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The upstream's JSON echo of a request.
#[derive(Clone, Debug)]
pub struct Echo(pub serde_json::Value);

impl Echo {
    pub fn text(&self, key: &str) -> String {
        text(&self.0, key)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.0
            .get("headers")?
            .get(name)?
            .as_str()
            .map(str::to_owned)
    }

    pub fn body_len(&self) -> u64 {
        self.0
            .get("body_len")
            .and_then(serde_json::Value::as_u64)
            .expect("body_len in the echo")
    }
}

/// The gateway's JSON body on a refused request.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub error: String,
    pub message: String,
    pub rule: Option<String>,
    pub request_id: String,
}

/// The response curl printed (see [`AgentSetup::curl`]).
pub fn curl_reply(run: &Run) -> Reply {
    assert!(run.success(), "curl failed: {run:#?}");
    let body = run.stdout.trim_end_matches('\n');
    let (body, last) = body.rsplit_once('\n').unwrap_or(("", body));
    let mut parts = last.splitn(3, ' ');
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line from curl: {run:#?}"));
    let http_version = parts.next().map(str::to_owned);
    let content_type = parts
        .next()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    Reply {
        status,
        body: body.to_owned(),
        content_type,
        sockname: None,
        http_version,
    }
}

/// The replies of a Python or Node run, one per step (`Err` for a step
/// that failed, with the client's error text).
pub fn plan_replies(run: &Run) -> Vec<Result<Reply, String>> {
    run.stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("client JSON {line:?}: {e}; {run:#?}"));
            if let Some(error) = v.get("error").and_then(|e| e.as_str()) {
                return Err(error.to_owned());
            }
            Ok(Reply {
                status: v
                    .get("status")
                    .and_then(serde_json::Value::as_u64)
                    .and_then(|s| u16::try_from(s).ok())
                    .unwrap_or_else(|| panic!("no status in {line:?}: {run:#?}")),
                body: text(&v, "body"),
                content_type: v
                    .get("content_type")
                    .and_then(|c| c.as_str())
                    .map(str::to_owned),
                sockname: v
                    .get("sockname")
                    .and_then(|c| c.as_str())
                    .map(str::to_owned),
                http_version: None,
            })
        })
        .collect()
}

/// Exactly `n` successful replies; panics with the run otherwise.
pub fn expect_replies(run: &Run, n: usize) -> Vec<Reply> {
    let replies = plan_replies(run);
    assert!(
        run.success() && replies.len() == n && replies.iter().all(Result::is_ok),
        "expected {n} replies from the client: {replies:#?}; {run:#?}"
    );
    replies.into_iter().map(Result::unwrap).collect()
}

/// What the WebSocket client printed.
#[derive(Clone, Debug)]
pub struct WsOutcome(pub serde_json::Value);

impl WsOutcome {
    pub fn parse(run: &Run) -> Self {
        let line = run
            .stdout
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("WebSocket client printed no JSON: {run:#?}"));
        Self(serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
    }

    pub fn status(&self) -> Option<u64> {
        self.0.get("status").and_then(serde_json::Value::as_u64)
    }

    /// As a [`Reply`], for a refused upgrade.
    pub fn reply(&self) -> Reply {
        Reply {
            status: self
                .status()
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or_default(),
            body: text(&self.0, "body"),
            content_type: self
                .0
                .get("content_type")
                .and_then(|c| c.as_str())
                .map(str::to_owned),
            sockname: None,
            http_version: None,
        }
    }
}
