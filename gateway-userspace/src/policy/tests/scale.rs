//! Large policies: the host index must give the same answer as trying
//! every rule in order, and a 10,000-rule policy must decide correctly.
//! `bench_decide_request` (ignored) measures it.

use std::{fmt::Write as _, time::Instant};

use super::*;

/// A policy of `n` rules over `n / 10` services: per service, a few path
/// rules for exact hosts, then one wildcard, one CIDR and one address
/// rule; a catch-all deny at the end.
fn synthetic(n: usize) -> String {
    let mut text = String::with_capacity(n * 120);
    for i in 0..n {
        let service = i / 10;
        let rule = match i % 10 {
            0..=5 => format!(
                "hosts = [\"svc{service}.example.com\"]\nmethods = [\"GET\"]\npaths = [\"/v1/items{}/*\", \"/v1/items{}/*/**\"]\n",
                i % 10,
                i % 10
            ),
            6 => format!(
                "hosts = [\"svc{service}.example.com\"]\nmethods = [\"POST\"]\nbody = {{ kind = \"k{i}\" }}\n"
            ),
            7 => format!("hosts = [\"*.zone{service}.example.net\"]\n"),
            8 => format!(
                "hosts = [\"10.{}.{}.0/24\"]\n",
                service / 256,
                service % 256
            ),
            _ => format!(
                "hosts = [\"192.168.{}.{}\"]\nports = [443]\n",
                service / 256,
                service % 256
            ),
        };
        let action = if i % 3 == 0 { "deny" } else { "allow" };
        writeln!(
            text,
            "[[rules]]\nname = \"r{i}\"\naction = \"{action}\"\n{rule}"
        )
        .unwrap();
    }
    text
}

#[test]
fn ten_thousand_rules_decide_correctly() {
    let p = policy(&synthetic(10_000));
    assert_eq!(p.rule_count(), 10_000);
    let d = |m: &str, url: &str| decide(&p, &req(m, url)).1;
    assert_eq!(d("GET", "https://svc0.example.com/v1/items0/a"), "r0");
    assert_eq!(
        d("GET", "https://svc999.example.com/v1/items3/a/b/c"),
        "r9993"
    );
    assert_eq!(
        d("GET", "https://svc999.example.com/v1/items9/a"),
        "default"
    );
    assert_eq!(d("POST", "https://svc512.example.com/x"), "default");
    let post = req("POST", "https://svc512.example.com/x").body(r#"{"kind": "k5126"}"#);
    assert_eq!(decide(&p, &post).1, "r5126");
    assert_eq!(d("GET", "https://deep.a.zone777.example.net/"), "r7777");
    assert_eq!(d("GET", "https://zone777.example.net/"), "default");
    assert_eq!(p.decide(dst("10.3.4.9:80")).rule.as_ref(), "r7728");
    assert_eq!(p.decide(dst("192.168.3.4:443")).rule.as_ref(), "r7729");
    assert_eq!(p.decide(dst("192.168.3.4:80")).rule.as_ref(), "default");
    assert_eq!(d("GET", "https://10.3.4.9/"), "r7728");
}

#[test]
fn index_agrees_with_rule_order_when_hosts_overlap() {
    // Rules filed under different keys (name, parent, parent's parent,
    // address, CIDR) that all apply to the same requests.
    let p = policy(
        r#"
[[rules]]
name = "deep-wildcard"
action = "deny"
hosts = ["*.example.com"]
methods = ["DELETE"]

[[rules]]
name = "net"
action = "deny"
hosts = ["10.0.0.0/8"]
paths = ["/private/**"]

[[rules]]
name = "exact"
action = "allow"
hosts = ["a.b.example.com", "10.1.1.1"]
methods = ["GET"]

[[rules]]
name = "mid-wildcard"
action = "approve"
hosts = ["*.b.example.com", "*.example.com", "10.1.1.1"]
reason = "r"

[[rules]]
name = "all-ten"
action = "allow"
hosts = ["10.0.0.0/8"]
"#,
    );
    let cases = [
        ("DELETE", "https://a.b.example.com/", "deep-wildcard"),
        ("GET", "https://a.b.example.com/", "exact"),
        ("POST", "https://a.b.example.com/", "mid-wildcard"),
        ("POST", "https://c.example.com/", "mid-wildcard"),
        ("GET", "https://10.1.1.1/private/x", "net"),
        ("GET", "https://10.1.1.1/", "exact"),
        ("POST", "https://10.1.1.1/", "mid-wildcard"),
        ("POST", "https://10.9.9.9/", "all-ten"),
        ("GET", "https://example.com/", "default"),
    ];
    for (method, url, rule) in cases {
        assert_eq!(decide(&p, &req(method, url)).1, rule, "{method} {url}");
    }
}

/// Not a pass/fail test: prints the time per decision for the lead's
/// `cargo xtask bench policy`. Run with
/// `cargo test --release -p gateway-userspace -- --ignored --exact
/// policy::tests::scale::bench_decide_request --nocapture`.
#[test]
#[ignore = "a benchmark; prints timings"]
fn bench_decide_request() {
    let rules = 10_000;
    let started = Instant::now();
    let p = policy(&synthetic(rules));
    let compile = started.elapsed();
    let requests = [
        req("GET", "https://svc999.example.com/v1/items3/a/b/c"),
        req("GET", "https://svc500.example.com/v1/items9/a"),
        req("POST", "https://svc512.example.com/x").body(r#"{"kind": "k5126"}"#),
        req("GET", "https://deep.a.zone777.example.net/"),
        req("GET", "https://unknown.example.org/"),
    ];
    let facts: Vec<RequestFacts<'_>> = requests.iter().map(Req::facts).collect();
    let rounds = 200_000;
    let started = Instant::now();
    for i in 0..rounds {
        std::hint::black_box(p.decide_request(std::hint::black_box(&facts[i % facts.len()])));
    }
    let per_request = started.elapsed() / u32::try_from(rounds).unwrap();
    let started = Instant::now();
    for i in 0..rounds {
        std::hint::black_box(p.decide(std::hint::black_box(dst([
            "10.3.4.9:80",
            "192.168.3.4:443",
            "172.16.0.1:22",
        ][i % 3]))));
    }
    let per_connection = started.elapsed() / u32::try_from(rounds).unwrap();
    // The index does not help when every rule is for the one host: the
    // worst case, a request that only the last rule matches.
    let mut one_host = String::new();
    for i in 0..rules {
        writeln!(
            one_host,
            "[[rules]]\nname = \"r{i}\"\naction = \"allow\"\nhosts = [\"api.example.com\"]\nmethods = [\"GET\"]\npaths = [\"/v1/items{i}/*\"]"
        )
        .unwrap();
    }
    let p = policy(&one_host);
    let last = req(
        "GET",
        &format!("https://api.example.com/v1/items{}/x", rules - 1),
    );
    let facts = last.facts();
    let rounds = 200;
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(p.decide_request(std::hint::black_box(&facts)));
    }
    let one_host_worst = started.elapsed() / rounds;
    println!(
        "policy-bench rules={rules} compile_ms={} decide_request_ns={} decide_connection_ns={} one_host_worst_case_ns={}",
        compile.as_millis(),
        per_request.as_nanos(),
        per_connection.as_nanos(),
        one_host_worst.as_nanos()
    );
}

/// Many small random policies and requests: the indexed decision must be
/// the first match of a linear scan every time (`decide` checks it).
#[test]
fn index_agrees_with_a_linear_scan_on_random_policies() {
    // A fixed linear congruential sequence: reproducible without a crate.
    let mut state: u64 = 0x5eed;
    let mut next = move |n: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(state >> 33).unwrap() % n
    };
    let hosts = [
        "a.example.com",
        "*.example.com",
        "b.a.example.com",
        "*.a.example.com",
        "10.0.0.1",
        "10.0.0.0/8",
        "::1",
    ];
    let paths = [
        "/x", "/x/*", "/x/**", "/x/y", "/*/y", "/**", "/x/y/z", "/x/*/z",
    ];
    let methods = ["GET", "POST"];
    let urls = [
        "https://a.example.com/x",
        "https://a.example.com/x/y",
        "https://b.a.example.com/x/y/z",
        "https://c.b.a.example.com/q/y",
        "https://example.com/x",
        "https://10.0.0.1/x/y",
        "https://10.2.3.4/x/q/z",
        "https://[::1]/",
        "https://z.example.com/x/y/",
    ];
    for _ in 0..200 {
        let mut text = String::new();
        for i in 0..=next(12) {
            let action = ["allow", "deny"][next(2)];
            let host = hosts[next(hosts.len())];
            writeln!(
                text,
                "[[rules]]\nname = \"r{i}\"\naction = \"{action}\"\nhosts = [\"{host}\"]"
            )
            .unwrap();
            if next(3) > 0 {
                let (a, b) = (paths[next(paths.len())], paths[next(paths.len())]);
                writeln!(text, "paths = [\"{a}\", \"{b}\"]").unwrap();
            }
            if next(3) == 0 {
                writeln!(text, "methods = [\"{}\"]", methods[next(2)]).unwrap();
            }
        }
        let p = policy(&text);
        for url in urls {
            for method in methods {
                decide(&p, &req(method, url));
            }
        }
    }
}
