//! Raw TCP decisions here; HTTP requests, packs, errors, explanations and
//! scale in the modules below.

mod errors;
mod explain;
mod http;
mod packs;
mod scale;

use std::{net::SocketAddr, path::Path};

use super::{pattern::PortRange, *};

fn policy(text: &str) -> Policy {
    Policy::parse(text, Path::new("test.toml")).unwrap()
}

fn dst(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A fresh directory for one test's files.
fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gw-policy-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("packs")).unwrap();
    dir
}

/// An HTTP request for tests, owning what [`RequestFacts`] borrows.
#[derive(Debug, Clone)]
struct Req {
    host: String,
    port: u16,
    method: String,
    path: String,
    query: Option<String>,
    headers: ::http::HeaderMap,
    body: Option<Vec<u8>>,
}

/// `req("GET", "https://api.github.com/repos?x=1")`.
fn req(method: &str, url: &str) -> Req {
    let url = url::Url::parse(url).unwrap();
    Req {
        host: url.host_str().unwrap().trim_matches(['[', ']']).to_owned(),
        port: url.port_or_known_default().unwrap(),
        method: method.to_owned(),
        path: url.path().to_owned(),
        query: url.query().map(str::to_owned),
        headers: ::http::HeaderMap::new(),
        body: None,
    }
}

impl Req {
    fn header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers
            .append(name, ::http::HeaderValue::from_static(value));
        self
    }

    fn body(mut self, body: &str) -> Self {
        self.body = Some(body.as_bytes().to_vec());
        self
    }

    /// Sets the path as sent, which `url` would have normalised.
    fn raw_path(mut self, path: &str) -> Self {
        path.clone_into(&mut self.path);
        self
    }

    fn facts(&self) -> RequestFacts<'_> {
        RequestFacts {
            host: &self.host,
            port: self.port,
            method: &self.method,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
            body_prefix: self.body.as_deref(),
        }
    }
}

/// The action and rule name for a request; checks on the way that the
/// indexed decision and the full trace agree.
fn decide(policy: &Policy, req: &Req) -> (Action, String) {
    let decision = policy.decide_request(&req.facts());
    let explained = policy.explain_request(&req.facts());
    assert_eq!(explained.decision, decision);
    let traced = explained
        .rules
        .iter()
        .find(|r| r.outcome == Outcome::Decides)
        .map_or("default", |r| &*r.name);
    assert_eq!(traced, &*decision.rule, "index and linear scan disagree");
    (decision.action, decision.rule.to_string())
}

#[test]
fn first_match_wins_and_default_denies() {
    let p = policy(
        r#"
[[rules]]
name = "no-db"
action = "deny"
hosts = ["10.0.0.5"]
ports = [5432]

[[rules]]
name = "lan"
action = "allow"
hosts = ["10.0.0.0/8"]
"#,
    );
    assert_eq!(p.decide(dst("10.0.0.5:5432")).rule.as_ref(), "no-db");
    assert_eq!(p.decide(dst("10.0.0.5:5432")).action, Action::Deny);
    assert_eq!(p.decide(dst("10.0.0.5:80")).action, Action::Allow);
    let other = p.decide(dst("192.0.2.1:80"));
    assert_eq!(
        (other.action, other.rule.as_ref()),
        (Action::Deny, "default")
    );
}

#[test]
fn port_ranges_and_ipv6() {
    let p = policy(
        r#"
[[rules]]
name = "r"
action = "allow"
hosts = ["fd00::/8", "127.0.0.1"]
ports = [80, "8000-8100"]
"#,
    );
    assert_eq!(p.decide(dst("[fd00::1]:8050")).action, Action::Allow);
    assert_eq!(p.decide(dst("[fd00::1]:8101")).action, Action::Deny);
    assert_eq!(p.decide(dst("127.0.0.1:80")).action, Action::Allow);
    // A v4-mapped address is the IPv4 address.
    assert_eq!(p.decide(dst("[::ffff:127.0.0.1]:80")).action, Action::Allow);
}

#[test]
fn names_never_match_raw_addresses() {
    let p = policy(
        "[[rules]]\nname = \"n\"\naction = \"allow\"\nhosts = [\"*.example.com\", \"example.com\"]\n",
    );
    assert_eq!(p.decide(dst("192.0.2.1:443")).action, Action::Deny);
}

#[test]
fn bad_host_reports_line_and_column() {
    let err = Policy::parse(
        "[[rules]]\nname = \"r\"\naction = \"allow\"\nhosts = [\"10.0.0.1\", \"10.0.0.300\"]\n",
        Path::new("p.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("line 4, column 22"), "{err}");
    assert!(err.contains("10.0.0.300"), "{err}");
}

#[test]
fn syntax_error_reports_line() {
    let err = Policy::parse(
        "[[rules]]\nname = \"r\"\naction = \"maybe\"\nhosts = []\n",
        Path::new("p.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn bad_port_range() {
    assert!("9-1".parse::<PortRange>().is_err());
    assert!("x".parse::<PortRange>().is_err());
    assert_eq!(
        "1-2".parse::<PortRange>().unwrap(),
        PortRange { first: 1, last: 2 }
    );
}
