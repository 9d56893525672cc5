//! `gateway policy check | explain`.

use std::{
    fmt::Write as _,
    io::{Read as _, Write as _},
    path::Path,
    process::ExitCode,
};

use anyhow::{Context as _, bail};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::{
    cli::PolicyCommand,
    config::Config,
    policy::{BODY_PREFIX_MAX, Policy, RequestFacts},
};

pub fn run(command: &PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Check { file } => check(file),
        PolicyCommand::Explain {
            config,
            agent,
            method,
            url,
            body,
            headers,
        } => {
            let config = Config::load(config)?;
            let Some(agent_config) = config.agents.iter().find(|a| a.name == *agent) else {
                let known: Vec<&str> = config.agents.iter().map(|a| a.name.as_str()).collect();
                bail!(
                    "no agent {agent:?} in the configuration; it has {}",
                    known.join(", ")
                );
            };
            let request = Request::from_args(method, url, headers, body.as_deref())?;
            explain(&agent_config.policy, &request)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Prints `ok: N rules (M from packs: a, b)`; an invalid policy is an
/// error, printed with its line and column.
fn check(file: &Path) -> anyhow::Result<ExitCode> {
    let policy = Policy::load(file)?;
    let packs = policy.packs();
    let mut out = format!("ok: {} rules", policy.rule_count());
    if !packs.is_empty() {
        let from_packs: usize = packs.iter().map(|p| p.rules).sum();
        let names: Vec<&str> = packs.iter().map(|p| &*p.name).collect();
        write!(out, " ({from_packs} from packs: {})", names.join(", "))?;
    }
    out.push('\n');
    for pack in packs {
        writeln!(
            out,
            "  pack {}: {} ({} rules)",
            pack.name, pack.description, pack.rules
        )?;
    }
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes to standard output; a reader that stopped reading (`| head`)
/// is not an error.
fn print(text: &str) -> anyhow::Result<()> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(error).context("writing to standard output"))
        }
        _ => Ok(()),
    }
}

/// The request given on the command line, owned.
struct Request {
    method: String,
    url: url::Url,
    host: String,
    port: u16,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    /// The body file is longer than rules may look at.
    body_cut: bool,
}

impl Request {
    fn from_args(
        method: &str,
        url: &str,
        headers: &[String],
        body: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let url = url::Url::parse(url).with_context(|| format!("reading the URL {url:?}"))?;
        let Some(host) = url.host_str() else {
            bail!("the URL {url} has no host");
        };
        // The proxy passes hosts in this form: no brackets, no trailing
        // dot, lower case.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let port = match (url.port(), url.scheme()) {
            (Some(port), _) => port,
            (None, "https" | "wss") => 443,
            (None, "http" | "ws") => 80,
            (None, scheme) => {
                bail!("no default port for the scheme {scheme:?}; put one in the URL")
            }
        };
        let mut header_map = HeaderMap::new();
        for header in headers {
            let Some((name, value)) = header.split_once(':') else {
                bail!("header {header:?} is not `Name: value`");
            };
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .with_context(|| format!("header name in {header:?}"))?;
            let value = HeaderValue::from_str(value.trim())
                .with_context(|| format!("header value in {header:?}"))?;
            header_map.append(name, value);
        }
        let (body, body_cut) = match body {
            None => (None, false),
            Some(path) => {
                let file = std::fs::File::open(path)
                    .with_context(|| format!("opening the body file {}", path.display()))?;
                // Read one byte past the limit to know whether it was cut,
                // as the proxy does.
                let mut prefix = Vec::new();
                file.take(BODY_PREFIX_MAX as u64 + 1)
                    .read_to_end(&mut prefix)
                    .with_context(|| format!("reading the body file {}", path.display()))?;
                let cut = prefix.len() > BODY_PREFIX_MAX;
                prefix.truncate(BODY_PREFIX_MAX);
                (Some(prefix), cut)
            }
        };
        Ok(Self {
            method: method.to_owned(),
            url,
            host,
            port,
            headers: header_map,
            body,
            body_cut,
        })
    }

    fn facts(&self) -> RequestFacts<'_> {
        RequestFacts {
            host: &self.host,
            port: self.port,
            method: &self.method,
            path: self.url.path(),
            query: self.url.query(),
            headers: &self.headers,
            body_prefix: self.body.as_deref(),
        }
    }
}

fn explain(policy: &Policy, request: &Request) -> anyhow::Result<()> {
    let mut out = format!(
        "request: {} {} (host {}, port {})\n",
        request.method, request.url, request.host, request.port
    );
    if policy.needs_body() {
        match &request.body {
            None => out.push_str("note: some rules look at the body, and no --body was given\n"),
            Some(_) if request.body_cut => writeln!(
                out,
                "note: the body is longer than {BODY_PREFIX_MAX} bytes: body conditions fail, as in the proxy"
            )?,
            Some(_) => {}
        }
    }
    write!(out, "{}", policy.explain_request(&request.facts()))?;
    print(&out)
}
