//! Explanations: every rule, in order, with the condition that failed.

use std::fmt::Write as _;

use super::{super::rule::Condition, *};

const POLICY: &str = r#"
[[rules]]
name = "other-service"
action = "allow"
hosts = ["api.other.com"]

[[rules]]
name = "read"
action = "allow"
hosts = ["api.example.com"]
methods = ["GET", "HEAD"]

[[rules]]
name = "wrong-path"
action = "deny"
hosts = ["*.example.com"]
paths = ["/admin/**"]

[[rules]]
name = "bad-body"
action = "allow"
hosts = ["api.example.com"]
body = { "to" = "*@example.com" }

[[rules]]
name = "send"
action = "approve"
hosts = ["api.example.com"]
methods = ["POST"]
paths = ["/send"]
reason = "Sending needs a human"

[[rules]]
name = "everything"
action = "deny"
hosts = ["api.example.com"]
"#;

fn explain(r: &Req) -> Explanation {
    policy(POLICY).explain_request(&r.facts())
}

#[test]
fn trace_has_every_rule_with_its_outcome_and_failed_condition() {
    let e = explain(&req("POST", "https://api.example.com/send").body(r#"{"to": "eve@evil.com"}"#));
    assert_eq!(e.decision.action, Action::Approve);
    assert_eq!(e.decision.reason.as_deref(), Some("Sending needs a human"));
    let summary: Vec<(&str, Outcome, Option<Condition>)> = e
        .rules
        .iter()
        .map(|r| (&*r.name, r.outcome, r.failed().map(|c| c.condition)))
        .collect();
    assert_eq!(
        summary,
        [
            ("other-service", Outcome::NoMatch, Some(Condition::Host)),
            ("read", Outcome::NoMatch, Some(Condition::Method)),
            ("wrong-path", Outcome::NoMatch, Some(Condition::Path)),
            ("bad-body", Outcome::NoMatch, Some(Condition::Body)),
            ("send", Outcome::Decides, None),
            ("everything", Outcome::Shadowed, None),
        ]
    );
    let details = |name: &str| -> Vec<String> {
        let rule = e.rules.iter().find(|r| &*r.name == name).unwrap();
        rule.checks.iter().map(|c| c.detail.clone()).collect()
    };
    assert_eq!(
        details("other-service"),
        ["api.example.com is not api.other.com"]
    );
    assert_eq!(
        details("read"),
        [
            "api.example.com matches api.example.com",
            "POST is not one of GET, HEAD"
        ]
    );
    assert_eq!(details("wrong-path")[1], "/send does not match /admin/**");
    assert_eq!(
        details("bad-body")[1],
        "field to = \"eve@evil.com\" does not match *@example.com"
    );
    assert_eq!(
        details("send"),
        [
            "api.example.com matches api.example.com",
            "POST is POST",
            "/send matches /send"
        ]
    );
}

#[test]
fn body_problems_are_explained() {
    let e = explain(&req("PUT", "https://api.example.com/x"));
    let body = e.rules.iter().find(|r| &*r.name == "bad-body").unwrap();
    assert_eq!(
        body.failed().unwrap().detail,
        "field to: the request has no body"
    );
    let e = explain(&req("PUT", "https://api.example.com/x").body("not json"));
    let body = e.rules.iter().find(|r| &*r.name == "bad-body").unwrap();
    assert!(
        body.failed()
            .unwrap()
            .detail
            .contains("the body is not JSON")
    );
    assert_eq!(e.decision.rule.as_ref(), "everything");
}

#[test]
fn default_deny_is_explained() {
    let e = explain(&req("GET", "https://nowhere.example.org/"));
    assert_eq!(e.decision.rule.as_ref(), "default");
    assert!(e.rules.iter().all(|r| r.outcome == Outcome::NoMatch));
    let text = e.to_string();
    assert!(
        text.starts_with("decision: deny (no rule matched: default)\n"),
        "{text}"
    );
}

#[test]
fn display_is_readable() {
    let text = explain(&req("POST", "https://api.example.com/send")).to_string();
    let expected_lines = [
        "decision: approve by rule \"send\": Sending needs a human",
        "  1. other-service (allow) at test.toml:3",
        "       FAIL host   api.example.com is not api.other.com",
        "  2. read (allow) at test.toml:8",
        "       ok   host   api.example.com matches api.example.com",
        "       FAIL method POST is not one of GET, HEAD",
        "  5. send (approve) at test.toml:26",
        "       => matches: decides",
        "       => would match, but rule \"send\" decided first",
    ];
    for line in expected_lines {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
}

#[test]
fn long_runs_of_other_hosts_are_shortened() {
    let mut text = String::new();
    for i in 0..5 {
        writeln!(
            text,
            "[[rules]]\nname = \"r{i}\"\naction = \"allow\"\nhosts = [\"h{i}.com\"]"
        )
        .unwrap();
    }
    text.push_str("[[rules]]\nname = \"it\"\naction = \"allow\"\nhosts = [\"it.com\"]\n");
    let e = policy(&text).explain_request(&req("GET", "https://it.com/").facts());
    assert_eq!(e.rules.len(), 6);
    let shown = e.to_string();
    assert!(
        shown.contains("  1-5. 5 rules for other hosts\n"),
        "{shown}"
    );
    assert!(shown.contains("  6. it (allow)"), "{shown}");
}

#[test]
fn pack_rules_say_where_they_come_from() {
    let dir = temp_dir("explain-pack");
    std::fs::write(
        dir.join("packs/svc.toml"),
        "name = \"svc\"\ndescription = \"d\"\nhosts = [\"svc.com\"]\n\n[[read]]\nmethods = [\"GET\"]\n",
    )
    .unwrap();
    let p = Policy::parse(
        "[[rules]]\nname = \"s\"\npack = \"svc\"\nread = \"allow\"\n",
        &dir.join("policy.toml"),
    )
    .unwrap();
    let e = p.explain_request(&req("GET", "https://svc.com/").facts());
    let origin = e.rules[0].origin.to_string();
    assert_eq!(
        origin,
        format!("{}:5, pack svc", dir.join("packs/svc.toml").display())
    );
    assert_eq!(e.rules[0].name.as_ref(), "s/read");
}
