//! HTTP rules: each condition, and first-match precedence.

use super::*;

fn allow(name: &str) -> (Action, String) {
    (Action::Allow, name.to_owned())
}

fn deny(name: &str) -> (Action, String) {
    (Action::Deny, name.to_owned())
}

#[test]
fn wildcard_hosts_match_subdomains_not_the_apex() {
    let p = policy(
        r#"
[[rules]]
name = "sub"
action = "allow"
hosts = ["*.example.com"]
"#,
    );
    assert_eq!(
        decide(&p, &req("GET", "https://a.example.com/")),
        allow("sub")
    );
    assert_eq!(
        decide(&p, &req("GET", "https://a.b.example.com/")),
        allow("sub")
    );
    assert_eq!(
        decide(&p, &req("GET", "https://example.com/")),
        deny("default")
    );
    assert_eq!(
        decide(&p, &req("GET", "https://badexample.com/")),
        deny("default")
    );
    assert_eq!(
        decide(&p, &req("GET", "https://example.com.evil/")),
        deny("default")
    );
}

#[test]
fn exact_hosts_ignore_case_and_a_trailing_dot() {
    let p = policy(
        r#"
[[rules]]
name = "r"
action = "allow"
hosts = ["API.Example.com."]
"#,
    );
    let mut r = req("GET", "https://api.example.com/");
    assert_eq!(decide(&p, &r), allow("r"));
    "Api.Example.COM.".clone_into(&mut r.host);
    assert_eq!(decide(&p, &r), allow("r"));
    assert_eq!(
        decide(&p, &req("GET", "https://x.api.example.com/")),
        deny("default")
    );
}

#[test]
fn ports_apply_to_requests() {
    let p = policy(
        r#"
[[rules]]
name = "tls-only"
action = "allow"
hosts = ["example.com"]
ports = [443]
"#,
    );
    assert_eq!(
        decide(&p, &req("GET", "https://example.com/")),
        allow("tls-only")
    );
    assert_eq!(
        decide(&p, &req("GET", "http://example.com/")),
        deny("default")
    );
    assert_eq!(
        decide(&p, &req("GET", "https://example.com:8443/")),
        deny("default")
    );
}

#[test]
fn methods_compare_case_insensitively() {
    let p = policy(
        r#"
[[rules]]
name = "read"
action = "allow"
hosts = ["example.com"]
methods = ["get", "HEAD"]
"#,
    );
    assert_eq!(
        decide(&p, &req("GET", "https://example.com/")),
        allow("read")
    );
    assert_eq!(
        decide(&p, &req("get", "https://example.com/")),
        allow("read")
    );
    assert_eq!(
        decide(&p, &req("head", "https://example.com/")),
        allow("read")
    );
    assert_eq!(
        decide(&p, &req("POST", "https://example.com/")),
        deny("default")
    );
}

#[test]
fn path_globs_single_and_any_depth() {
    let p = policy(
        r#"
[[rules]]
name = "issues"
action = "allow"
hosts = ["api.github.com"]
paths = ["/repos/*/*/issues", "/repos/*/*/issues/**"]
"#,
    );
    let d = |path: &str| decide(&p, &req("GET", &format!("https://api.github.com{path}"))).1;
    assert_eq!(d("/repos/o/r/issues"), "issues");
    assert_eq!(d("/repos/o/r/issues/"), "issues");
    assert_eq!(d("/repos/o/r/issues/1/comments"), "issues");
    assert_eq!(d("/repos/o/issues"), "default");
    assert_eq!(d("/repos/o/r/pulls"), "default");
    assert_eq!(d("/repos/o/r/x/issues"), "default");
}

#[test]
fn a_deny_cannot_be_dodged_by_encoding_the_path() {
    let p = policy(
        r#"
[[rules]]
name = "no-admin"
action = "deny"
hosts = ["example.com"]
paths = ["/admin/**"]

[[rules]]
name = "rest"
action = "allow"
hosts = ["example.com"]
"#,
    );
    for path in [
        "/admin",
        "/%61dmin/users",
        "//admin",
        "/x/../admin/",
        "/./admin",
    ] {
        let r = req("GET", "https://example.com/").raw_path(path);
        assert_eq!(decide(&p, &r), deny("no-admin"), "{path}");
    }
    assert_eq!(
        decide(&p, &req("GET", "https://example.com/administrator")),
        allow("rest")
    );
}

#[test]
fn query_conditions() {
    let p = policy(
        r#"
[[rules]]
name = "open-issues"
action = "allow"
hosts = ["api.github.com"]
query = { state = "open", per_page = "*" }
"#,
    );
    let d = |query: &str| {
        decide(
            &p,
            &req("GET", &format!("https://api.github.com/i?{query}")),
        )
        .1
    };
    assert_eq!(d("state=open&per_page=10"), "open-issues");
    assert_eq!(d("per_page=&state=open"), "open-issues");
    assert_eq!(
        d("state=%6Fpen&per_page=1"),
        "open-issues",
        "values are decoded"
    );
    assert_eq!(d("state=closed&per_page=10"), "default");
    assert_eq!(d("state=open"), "default", "missing key");
    // A key given twice must match both times.
    assert_eq!(d("state=open&state=all&per_page=1"), "default");
    assert_eq!(
        decide(&p, &req("GET", "https://api.github.com/i")).1,
        "default"
    );
}

#[test]
fn header_conditions() {
    let p = policy(
        r#"
[[rules]]
name = "versioned"
action = "allow"
hosts = ["api.github.com"]
headers = { "X-GitHub-Api-Version" = "2022-*" }
"#,
    );
    let base = req("GET", "https://api.github.com/");
    let d = |r: Req| decide(&p, &r).1;
    assert_eq!(
        d(base.clone().header("x-github-api-version", "2022-11-28")),
        "versioned"
    );
    assert_eq!(
        d(base.clone().header("x-github-api-version", "2023-01-01")),
        "default"
    );
    assert_eq!(d(base.clone()), "default");
    assert_eq!(
        d(base
            .header("x-github-api-version", "2022-11-28")
            .header("x-github-api-version", "2026-01-01")),
        "default",
        "every value must match"
    );
}

#[test]
fn body_conditions_on_json_fields() {
    let p = policy(
        r#"
[[rules]]
name = "internal-mail"
action = "allow"
hosts = ["mail.example.com"]
methods = ["POST"]
body = { "message.to" = "*@example.com", draft = false, "items.0.n" = "2" }
"#,
    );
    assert!(p.needs_body());
    let post = req("POST", "https://mail.example.com/send");
    let d = |body: &str| decide(&p, &post.clone().body(body)).1;
    let ok = r#"{"message": {"to": "bob@example.com"}, "draft": false, "items": [{"n": 2}]}"#;
    assert_eq!(d(ok), "internal-mail");
    let outside = r#"{"message": {"to": "eve@evil.com"}, "draft": false, "items": [{"n": 2}]}"#;
    assert_eq!(d(outside), "default");
    assert_eq!(
        d(r#"{"message": {"to": "bob@example.com"}, "draft": false}"#),
        "default",
        "missing field"
    );
    assert_eq!(d("to=bob@example.com"), "default", "not JSON");
    assert_eq!(d(r#"["not", "an", "object"]"#), "default");
    assert_eq!(d(&ok[..ok.len() - 1]), "default", "cut short");
    let twice = r#"{"message": {"to": "bob@example.com", "to": "eve@evil.com"}, "draft": false, "items": [{"n": 2}]}"#;
    assert_eq!(d(twice), "default", "duplicate key");
    assert_eq!(decide(&p, &post).1, "default", "no body");
}

#[test]
fn needs_body_only_with_body_conditions() {
    let p = policy(
        "[[rules]]\nname = \"r\"\naction = \"allow\"\nhosts = [\"a.com\"]\npaths = [\"/**\"]\n",
    );
    assert!(!p.needs_body());
}

#[test]
fn first_match_wins_across_rule_kinds() {
    let p = policy(
        r#"
[[rules]]
name = "no-delete"
action = "deny"
hosts = ["*.example.com"]
methods = ["DELETE"]

[[rules]]
name = "api"
action = "allow"
hosts = ["api.example.com"]

[[rules]]
name = "later-delete"
action = "allow"
hosts = ["api.example.com"]
methods = ["DELETE"]
"#,
    );
    // The wildcard rule comes first, so it wins over the exact host rule.
    assert_eq!(
        decide(&p, &req("DELETE", "https://api.example.com/x")),
        deny("no-delete")
    );
    assert_eq!(
        decide(&p, &req("GET", "https://api.example.com/x")),
        allow("api")
    );
}

#[test]
fn default_deny_has_no_reason() {
    let p = policy("");
    let d = p.decide_request(&req("GET", "https://example.com/").facts());
    assert_eq!(
        d,
        Decision {
            action: Action::Deny,
            rule: "default".into(),
            reason: None
        }
    );
}

#[test]
fn approve_carries_its_reason() {
    let p = policy(
        r#"
[[rules]]
name = "send"
action = "approve"
hosts = ["mail.example.com"]
methods = ["POST"]
reason = "Sending mail needs a human"

[[rules]]
name = "block"
action = "deny"
hosts = ["mail.example.com"]
reason = "only sending is possible"
"#,
    );
    let d = p.decide_request(&req("POST", "https://mail.example.com/send").facts());
    assert_eq!(d.action, Action::Approve);
    assert_eq!(d.reason.as_deref(), Some("Sending mail needs a human"));
    let d = p.decide_request(&req("GET", "https://mail.example.com/").facts());
    assert_eq!(
        (d.action, d.reason.as_deref()),
        (Action::Deny, Some("only sending is possible"))
    );
    assert_eq!(Action::Approve.to_string(), "approve");
}

#[test]
fn http_rules_never_match_raw_tcp() {
    let p = policy(
        r#"
[[rules]]
name = "http-only"
action = "allow"
hosts = ["10.0.0.0/8"]
methods = ["GET"]

[[rules]]
name = "raw"
action = "deny"
hosts = ["10.0.0.0/8"]
"#,
    );
    assert_eq!(p.decide(dst("10.1.2.3:443")).rule.as_ref(), "raw");
    assert_eq!(
        decide(&p, &req("GET", "http://10.1.2.3/")),
        allow("http-only")
    );
    assert_eq!(decide(&p, &req("POST", "http://10.1.2.3/")), deny("raw"));
}

#[test]
fn ip_rules_match_raw_tcp_and_ip_literal_requests() {
    let p = policy(
        r#"
[[rules]]
name = "lan"
action = "allow"
hosts = ["192.168.0.0/16", "fd00::1"]
ports = [80, 443]
"#,
    );
    assert_eq!(p.decide(dst("192.168.1.1:80")).action, Action::Allow);
    assert_eq!(p.decide(dst("[fd00::1]:443")).action, Action::Allow);
    assert_eq!(decide(&p, &req("GET", "http://192.168.1.1/")), allow("lan"));
    assert_eq!(decide(&p, &req("GET", "https://[fd00::1]/")), allow("lan"));
    let mut mapped = req("GET", "https://192.168.1.1/");
    "::ffff:192.168.1.1".clone_into(&mut mapped.host);
    assert_eq!(decide(&p, &mapped), allow("lan"));
    // A name is not its address: rules on addresses do not match names.
    assert_eq!(
        decide(&p, &req("GET", "http://router.lan/")),
        deny("default")
    );
}

#[test]
fn name_rules_do_not_match_ip_literals() {
    let p = policy(
        "[[rules]]\nname = \"n\"\naction = \"allow\"\nhosts = [\"example.com\", \"*.example.com\"]\n",
    );
    assert_eq!(
        decide(&p, &req("GET", "http://93.184.215.14/")),
        deny("default")
    );
    assert_eq!(decide(&p, &req("GET", "http://example.com/")), allow("n"));
}

#[test]
fn dns_names_follow_the_non_deny_rules() {
    let p = policy(
        r#"
[[rules]]
name = "blocked"
action = "deny"
hosts = ["evil.example"]

[[rules]]
name = "api"
action = "allow"
hosts = ["api.example.com", "*.cdn.example"]

[[rules]]
name = "lan"
action = "allow"
hosts = ["10.0.0.0/8"]
"#,
    );
    assert!(p.may_reach_name("api.example.com"));
    assert!(p.may_reach_name("API.example.com."));
    assert!(p.may_reach_name("x.cdn.example"));
    assert!(!p.may_reach_name("cdn.example"));
    assert!(!p.may_reach_name("evil.example"));
    assert!(!p.may_reach_name("secret-data.attacker.example"));
    assert!(!p.may_reach_name("10.1.2.3"));
}
