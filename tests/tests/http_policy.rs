//! Per-request policy, end to end: first match wins, wildcard hosts, path
//! globs, query, header and JSON body conditions, and default deny. Each
//! request is a fresh urllib connection from the agent cgroup; the answer
//! (200 echo from the upstream, or the gateway's 403) and the rule in it
//! show which rule decided.

use gateway_tests::gateway::config::{ApprovalOptions, Rule};
use gateway_tests::https_clients::{Reply, Step, expect_replies};
use gateway_tests::https_scenario::{API_HOST, HttpsScenario, OTHER_HOST, SVC_HOSTS};

/// Sends `steps` with urllib and returns one reply per step.
fn send(s: &HttpsScenario, steps: &[Step]) -> Vec<Reply> {
    let run = s
        .agents
        .python("urllib", steps)
        .in_cgroup(s.agent.path())
        .run();
    expect_replies(&run, steps.len())
}

/// `Ok(())` for a 200 echo from the upstream, `Err(rule)` for a 403
/// denial, `Err(<the whole reply>)` for anything else.
fn outcome(reply: &Reply) -> Result<(), String> {
    match reply.status {
        200 => {
            reply.expect_echo();
            Ok(())
        }
        403 => Err(reply.expect_refusal(403, "denied").rule.unwrap_or_default()),
        _ => Err(format!("unexpected reply {reply:?}")),
    }
}

fn get(host: &str, path: &str) -> Step {
    Step::new("GET", &HttpsScenario::url(host, path))
}

/// Checks each `(step, expected)`: `Ok(())` = allowed, `Err(rule)` = denied by `rule`.
fn check(s: &HttpsScenario, cases: &[(Step, Result<(), &str>)]) {
    let steps: Vec<Step> = cases.iter().map(|(step, _)| step.clone()).collect();
    let replies = send(s, &steps);
    for ((step, expected), reply) in cases.iter().zip(&replies) {
        let expected = expected.map_err(str::to_owned);
        assert_eq!(
            outcome(reply),
            expected,
            "{} {}: {reply:#?}\n{}",
            step.method,
            step.url,
            s.gateway.dump()
        );
    }
}

#[test]
fn first_matching_rule_wins() {
    let s = HttpsScenario::start(
        "http-first-match",
        &[
            Rule::deny("no-admin", &[API_HOST]).paths(&["/admin/**"]),
            Rule::allow("api-all", &[API_HOST]),
            Rule::deny("never-reached", &[API_HOST]).paths(&["/public/**"]),
        ],
    );
    check(
        &s,
        &[
            (get(API_HOST, "/admin/users"), Err("no-admin")),
            (get(API_HOST, "/admin"), Err("no-admin")),
            (get(API_HOST, "/public/page"), Ok(())),
            (get(API_HOST, "/v1/x"), Ok(())),
        ],
    );
    let line = s
        .gateway
        .wait_for_request("request allowed", "GET", API_HOST, "/public/page");
    assert_eq!(line.field("rule").as_deref(), Some("api-all"), "{line:?}");
}

#[test]
fn wildcard_host_matches_subdomains_only() {
    let s = HttpsScenario::start(
        "http-wildcard",
        &[Rule::allow("svc", &["*.svc.test.example"]).methods(&["GET"])],
    );
    check(
        &s,
        &[
            (get(SVC_HOSTS[0], "/a"), Ok(())),
            (get(SVC_HOSTS[1], "/b"), Ok(())),
            (get(API_HOST, "/a"), Err("default")),
            (get(OTHER_HOST, "/a"), Err("default")),
        ],
    );
}

#[test]
fn path_globs_match_segments() {
    let s = HttpsScenario::start(
        "http-globs",
        &[Rule::allow("issues", &[API_HOST])
            .methods(&["get"])
            .paths(&["/repos/*/*/issues", "/files/**"])],
    );
    check(
        &s,
        &[
            (get(API_HOST, "/repos/o/r/issues"), Ok(())),
            (get(API_HOST, "/repos/o/r/issues/1"), Err("default")),
            (get(API_HOST, "/repos/o/issues"), Err("default")),
            (get(API_HOST, "/repos/o/r/x/issues"), Err("default")),
            (get(API_HOST, "/files"), Ok(())),
            (get(API_HOST, "/files/a/b/c.txt"), Ok(())),
            (get(API_HOST, "/filesystem"), Err("default")),
            (
                Step::new("POST", &HttpsScenario::url(API_HOST, "/files/a")).body("x"),
                Err("default"),
            ),
        ],
    );
}

#[test]
fn query_and_header_conditions() {
    let s = HttpsScenario::start(
        "http-query-header",
        &[Rule::allow("search", &[API_HOST])
            .paths(&["/search"])
            .query("state", "open")
            .header("X-Api-Version", "2024-*")],
    );
    let search = |query: &str, version: Option<&str>| {
        let step = get(API_HOST, &format!("/search{query}"));
        match version {
            Some(v) => step.header("x-api-version", v),
            None => step,
        }
    };
    check(
        &s,
        &[
            (search("?state=open", Some("2024-01-01")), Ok(())),
            (search("?q=x&state=open", Some("2024-06")), Ok(())),
            (search("?state=closed", Some("2024-01-01")), Err("default")),
            (search("", Some("2024-01-01")), Err("default")),
            (search("?state=open", Some("2023-01-01")), Err("default")),
            (search("?state=open", None), Err("default")),
        ],
    );
}

#[test]
fn json_body_field_condition() {
    let s = HttpsScenario::start(
        "http-body",
        &[
            Rule::allow("internal-mail", &[API_HOST])
                .methods(&["POST"])
                .paths(&["/send"])
                .body_field("message.to", "*@test.example")
                .body_field("draft", "false"),
            Rule::deny("other-mail", &[API_HOST]).paths(&["/send"]),
        ],
    );
    let send = |body: &str| {
        Step::new("POST", &HttpsScenario::url(API_HOST, "/send"))
            .header("content-type", "application/json")
            .body(body)
    };
    check(
        &s,
        &[
            (
                send(r#"{"message": {"to": "bob@test.example"}, "draft": false}"#),
                Ok(()),
            ),
            (
                send(r#"{"message": {"to": "eve@elsewhere.example"}, "draft": false}"#),
                Err("other-mail"),
            ),
            (
                send(r#"{"message": {"to": "bob@test.example"}, "draft": true}"#),
                Err("other-mail"),
            ),
            (send(r#"{"draft": false}"#), Err("other-mail")),
            (send("to=bob@test.example"), Err("other-mail")),
        ],
    );
    // The allowed body reached the upstream whole, after the gateway read it.
    let run = s
        .agents
        .python(
            "urllib",
            &[send(
                r#"{"message": {"to": "ann@test.example"}, "draft": false}"#,
            )],
        )
        .in_cgroup(s.agent.path())
        .run();
    let echo = expect_replies(&run, 1)[0].expect_echo();
    assert_eq!(
        echo.text("body"),
        r#"{"message": {"to": "ann@test.example"}, "draft": false}"#
    );
}

#[test]
fn no_matching_rule_is_denied_by_default() {
    let s = HttpsScenario::start(
        "http-default-deny",
        &[Rule::allow("other-only", &[OTHER_HOST])],
    );
    check(
        &s,
        &[
            (get(API_HOST, "/"), Err("default")),
            (get(OTHER_HOST, "/"), Ok(())),
        ],
    );
    s.gateway
        .wait_for_request("request denied", "GET", API_HOST, "/");
    let hosts: Vec<Option<String>> = s.upstream.requests().into_iter().map(|r| r.host).collect();
    assert_eq!(
        hosts,
        vec![Some(OTHER_HOST.to_owned())],
        "only the request to {OTHER_HOST} may reach the upstream"
    );
}

#[test]
fn policy_pack_expands_to_read_and_write_endpoints() {
    let pack = r#"
name = "mailtest"
description = "A mail API for the tests"
hosts = ["api.test.example"]

[[read]]
methods = ["GET"]
paths = ["/mail/v1/messages", "/mail/v1/messages/*"]

[[write]]
methods = ["POST"]
paths = ["/mail/v1/messages/send"]
"#;
    let policy = r#"
[[rules]]
name = "mail"
pack = "mailtest"
read = "allow"
write = "approve"
reason = "Sending mail needs a human"
"#;
    let s = HttpsScenario::builder("http-pack")
        .policy_text(policy)
        .pack("mailtest", pack)
        .approvals(ApprovalOptions {
            hold_seconds: Some(0),
            ..ApprovalOptions::default()
        })
        .start();
    let replies = send(
        &s,
        &[
            get(API_HOST, "/mail/v1/messages/42"),
            Step::new(
                "POST",
                &HttpsScenario::url(API_HOST, "/mail/v1/messages/send"),
            )
            .body("{}"),
            Step::new(
                "DELETE",
                &HttpsScenario::url(API_HOST, "/mail/v1/messages/42"),
            ),
        ],
    );
    assert_eq!(
        replies[0].expect_echo().text("path"),
        "/mail/v1/messages/42"
    );
    let approval = replies[1].expect_refusal(403, "approval_pending");
    assert!(
        approval
            .rule
            .as_deref()
            .is_some_and(|r| r.starts_with("mail")),
        "the pack's rule is named after the policy rule: {approval:#?}"
    );
    let denied = replies[2].expect_refusal(403, "denied");
    assert_eq!(denied.rule.as_deref(), Some("default"), "not in the pack");
    s.upstream.assert_no_request_to(
        "/mail/v1/messages/send",
        "a write awaiting approval must not be sent",
    );
}

#[test]
fn each_agent_gets_the_policy_of_its_cgroup() {
    let s = HttpsScenario::builder("http-two-agents")
        .rules(&[Rule::allow("first-may-read", &[API_HOST]).methods(&["GET"])])
        .second_agent("second", &[Rule::deny("second-may-not", &[API_HOST])])
        .start();
    let second = s.second_agent.as_ref().expect("second agent");
    let step = [get(API_HOST, "/whoami")];
    let first_run = s
        .agents
        .python("urllib", &step)
        .in_cgroup(s.agent.path())
        .run();
    let second_run = s
        .agents
        .python("urllib", &step)
        .in_cgroup(second.path())
        .run();
    expect_replies(&first_run, 1)[0].expect_echo();
    let refusal = expect_replies(&second_run, 1)[0].expect_refusal(403, "denied");
    assert_eq!(refusal.rule.as_deref(), Some("second-may-not"));
    let denied = s.gateway.wait_for_log(
        "\"request denied\" for the second agent",
        |l| l.message() == "request denied",
        std::time::Duration::from_secs(5),
    );
    assert_eq!(
        denied.field("agent").as_deref(),
        Some("second"),
        "{denied:?}"
    );
    s.gateway
        .wait_for_request("request allowed", "GET", API_HOST, "/whoami");
}
