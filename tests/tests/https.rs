//! Real HTTPS clients in the agent cgroup (curl over HTTP/1.1 and HTTP/2,
//! Python, Node's fetch, git) go through TLS interception: allowed requests
//! reach the upstream from the gateway (host namespace, the name resolved by
//! the gateway), denied ones get the gateway's 403 JSON and never reach it.

use std::net::IpAddr;

use gateway_tests::gateway::config::{ApprovalOptions, Rule};
use gateway_tests::git_repo::README_TEXT;
use gateway_tests::https_clients::{Reply, Step, expect_replies};
use gateway_tests::https_scenario::{API_HOST, GIT_HOST, HttpsScenario};
use gateway_tests::tempdir::TempDir;

/// GET and HEAD below /v1 on the API host; nothing else.
fn read_only_v1() -> Vec<Rule> {
    vec![
        Rule::allow("api-read", &[API_HOST])
            .methods(&["GET", "HEAD"])
            .paths(&["/v1/**"]),
    ]
}

/// The allowed request reached the upstream through the gateway: from the
/// host side of the veth, on the address the gateway resolved, with the SNI
/// of the name the agent used.
fn assert_relayed_by_gateway(s: &HttpsScenario, path: &str) {
    let seen = s
        .upstream
        .wait_for_request(path, std::time::Duration::from_secs(5));
    assert_eq!(
        seen.peer.ip(),
        IpAddr::V4(s.topo.host_v4()),
        "the gateway connects to the upstream from the host namespace: {seen:#?}"
    );
    assert_eq!(seen.local, s.upstream_addr(), "{seen:#?}");
    let conn = s
        .upstream
        .connections()
        .into_iter()
        .find(|c| c.peer == seen.peer)
        .expect("the request's connection was recorded");
    assert_eq!(conn.sni.as_deref(), Some(API_HOST), "{conn:#?}");
}

/// A 403 "denied" naming `rule`, whose request id is the one logged.
fn assert_denied(s: &HttpsScenario, reply: &Reply, rule: &str, method: &str, path: &str) {
    let refusal = reply.expect_refusal(403, "denied");
    assert_eq!(refusal.rule.as_deref(), Some(rule), "{reply:#?}");
    let line = s
        .gateway
        .wait_for_request("request denied", method, API_HOST, path);
    assert_eq!(line.field("rule").as_deref(), Some(rule), "{line:?}");
    assert_eq!(
        line.field("request_id").as_deref(),
        Some(refusal.request_id.as_str()),
        "the request id in the answer is the one in the log"
    );
    s.upstream
        .assert_no_request_to(path, "a denied request must not reach the upstream");
}

#[test]
fn curl_http1_allowed_request_is_forwarded() {
    let s = HttpsScenario::start("https-curl-h1", &read_only_v1());
    let url = HttpsScenario::url(API_HOST, "/v1/items?page=2");
    let run = s
        .agents
        .curl(&url)
        .args(["--http1.1", "-H", "X-Agent-Header: kept"])
        .arg(&url)
        .in_cgroup(s.agent.path())
        .run();
    let reply = s.curl_reply(&run);
    assert_eq!(reply.http_version.as_deref(), Some("1.1"), "{reply:#?}");
    let echo = reply.expect_echo();
    assert_eq!(echo.text("method"), "GET");
    assert_eq!(echo.text("path"), "/v1/items");
    assert_eq!(echo.text("query"), "page=2");
    assert_eq!(echo.header("x-agent-header").as_deref(), Some("kept"));
    assert_relayed_by_gateway(&s, "/v1/items");
    let line = s
        .gateway
        .wait_for_request("request allowed", "GET", API_HOST, "/v1/items");
    assert_eq!(line.field("rule").as_deref(), Some("api-read"), "{line:?}");
}

#[test]
fn curl_http2_allowed_request_is_forwarded() {
    let s = HttpsScenario::start("https-curl-h2", &read_only_v1());
    let url = HttpsScenario::url(API_HOST, "/v1/h2");
    let run = s
        .agents
        .curl(&url)
        .arg("--http2")
        .arg(&url)
        .in_cgroup(s.agent.path())
        .run();
    let reply = s.curl_reply(&run);
    assert_eq!(
        reply.http_version.as_deref(),
        Some("2"),
        "the gateway offers h2 to agents: {reply:#?}"
    );
    assert_eq!(reply.expect_echo().text("path"), "/v1/h2");
    assert_relayed_by_gateway(&s, "/v1/h2");
    s.gateway
        .wait_for_request("request allowed", "GET", API_HOST, "/v1/h2");
}

#[test]
fn curl_denied_requests_get_403_json_over_http1_and_http2() {
    let mut rules = vec![Rule::deny("no-admin", &[API_HOST]).paths(&["/v1/admin/**"])];
    rules.extend(read_only_v1());
    let s = HttpsScenario::start("https-curl-deny", &rules);
    for (flag, method, path, rule, body) in [
        ("--http1.1", "DELETE", "/v1/items/7", "default", None),
        ("--http2", "DELETE", "/v1/items/8", "default", None),
        ("--http1.1", "GET", "/v1/admin/users", "no-admin", None),
        ("--http2", "GET", "/v1/admin/keys", "no-admin", None),
        // A body the gateway answers before reading it all.
        (
            "--http1.1",
            "POST",
            "/v1/items",
            "default",
            Some("{\"a\": 1}"),
        ),
        (
            "--http2",
            "PUT",
            "/v1/items/9",
            "default",
            Some("{\"a\": 1}"),
        ),
    ] {
        let url = HttpsScenario::url(API_HOST, path);
        let mut curl = s.agents.curl(&url).args([flag, "-X", method]);
        if let Some(body) = body {
            curl = curl.args(["--data-binary", body]);
        }
        let run = curl.arg(&url).in_cgroup(s.agent.path()).run();
        let reply = s.curl_reply(&run);
        assert_denied(&s, &reply, rule, method, path);
    }
}

#[test]
fn agent_chosen_address_is_not_used_for_a_name() {
    // The agent resolves api.test.example to 10.233.N.3; the gateway
    // resolves the name itself (10.233.N.2) and connects there.
    let mut s = HttpsScenario::start("https-own-resolve", &read_only_v1());
    s.agents
        .resolve
        .insert(API_HOST.to_owned(), IpAddr::V4(s.topo.upstream_v4_other()));
    s.get(&HttpsScenario::url(API_HOST, "/v1/where"))
        .expect_echo();
    let seen = s
        .upstream
        .wait_for_request("/v1/where", std::time::Duration::from_secs(5));
    assert_eq!(
        seen.local,
        s.upstream_addr(),
        "the gateway must connect to the address it resolved, not the agent's choice"
    );
}

#[test]
fn approve_rule_answers_approval_pending() {
    // No hold: the pending answer comes at once (tests/approvals.rs holds).
    let s = HttpsScenario::builder("https-approve")
        .rules(&[Rule::approve("send-needs-human", &[API_HOST])
            .methods(&["POST"])
            .paths(&["/v1/send"])
            .reason("Sending needs a human")])
        .approvals(ApprovalOptions {
            hold_seconds: Some(0),
            ..ApprovalOptions::default()
        })
        .start();
    let url = HttpsScenario::url(API_HOST, "/v1/send");
    let run = s
        .agents
        .curl(&url)
        .args(["-X", "POST", "--data-binary", "{}"])
        .arg(&url)
        .in_cgroup(s.agent.path())
        .run();
    let reply = s.curl_reply(&run);
    let refusal = reply.expect_refusal(403, "approval_pending");
    assert_eq!(refusal.rule.as_deref(), Some("send-needs-human"));
    assert_eq!(reply.json()["status"], "pending", "{reply:#?}");
    s.gateway
        .wait_for_request("request needs approval", "POST", API_HOST, "/v1/send");
    s.upstream
        .assert_no_request_to("/v1/send", "a request awaiting approval must not be sent");
}

#[test]
fn python_urllib_allowed_and_denied() {
    let s = HttpsScenario::start("https-python", &read_only_v1());
    let allowed = HttpsScenario::url(API_HOST, "/v1/python");
    let mut libs = vec!["urllib"];
    if python_has_requests() {
        libs.push("requests");
    }
    for lib in libs {
        let denied_path = format!("/v2/{lib}");
        let denied = HttpsScenario::url(API_HOST, &denied_path);
        let run = s
            .agents
            .python(
                lib,
                &[Step::new("GET", &allowed), Step::new("GET", &denied)],
            )
            .in_cgroup(s.agent.path())
            .run();
        let replies = expect_replies(&run, 2);
        assert_eq!(replies[0].expect_echo().text("path"), "/v1/python", "{lib}");
        assert_denied(&s, &replies[1], "default", "GET", &denied_path);
    }
    assert_relayed_by_gateway(&s, "/v1/python");
}

#[test]
fn node_fetch_allowed_and_denied() {
    let s = HttpsScenario::start("https-node", &read_only_v1());
    let run = s
        .agents
        .node_fetch(&[
            Step::new("GET", &HttpsScenario::url(API_HOST, "/v1/node")),
            Step::new("POST", &HttpsScenario::url(API_HOST, "/v1/node")).body("{}"),
        ])
        .in_cgroup(s.agent.path())
        .run();
    let replies = expect_replies(&run, 2);
    assert_eq!(replies[0].expect_echo().text("method"), "GET");
    let refusal = replies[1].expect_refusal(403, "denied");
    assert_eq!(refusal.rule.as_deref(), Some("default"));
    s.gateway
        .wait_for_request("request denied", "POST", API_HOST, "/v1/node");
    assert_relayed_by_gateway(&s, "/v1/node");
    assert_eq!(
        s.upstream.requests_to("/v1/node").len(),
        1,
        "only the GET reached the upstream"
    );
}

#[test]
fn git_clone_over_https_is_allowed_by_path() {
    let s = HttpsScenario::builder("https-git")
        .rules(&[Rule::allow("git-read", &[GIT_HOST])
            .methods(&["GET"])
            .paths(&["/repo.git/**"])])
        .git()
        .start();
    let home = TempDir::new("https-git-home");
    let dest = home.path().join("clone");
    let url = HttpsScenario::url(GIT_HOST, "/repo.git");
    let _ = s
        .agents
        .git_clone(&url, &dest, home.path())
        .in_cgroup(s.agent.path())
        .run()
        .expect_success("git clone through the gateway");
    assert_eq!(
        std::fs::read_to_string(dest.join("README")).expect("README in the clone"),
        README_TEXT
    );
    s.gateway
        .wait_for_request("request allowed", "GET", GIT_HOST, "/repo.git/info/refs");
}

#[test]
fn git_clone_of_a_denied_repository_fails_with_403() {
    let s = HttpsScenario::builder("https-git-deny")
        .rules(&[Rule::allow("other-repo", &[GIT_HOST]).paths(&["/other.git/**"])])
        .git()
        .start();
    let home = TempDir::new("https-git-deny-home");
    let dest = home.path().join("clone");
    let run = s
        .agents
        .git_clone(
            &HttpsScenario::url(GIT_HOST, "/repo.git"),
            &dest,
            home.path(),
        )
        .in_cgroup(s.agent.path())
        .run();
    assert!(
        !run.success() && run.stderr.contains("403"),
        "git should fail with the gateway's 403: {run:#?}"
    );
    assert!(!dest.join("README").exists());
    s.gateway
        .wait_for_request("request denied", "GET", GIT_HOST, "/repo.git/info/refs");
    s.upstream.assert_no_request_to(
        "/repo.git/info/refs",
        "denied requests never reach the upstream",
    );
}

#[test]
fn names_resolve_through_the_configured_dns_server() {
    let s = HttpsScenario::builder("https-dns")
        .rules(&read_only_v1())
        .dns()
        .start();
    let url = HttpsScenario::url(API_HOST, "/v1/dns");
    let run = s
        .agents
        .curl(&url)
        .arg(&url)
        .in_cgroup(s.agent.path())
        .run();
    s.curl_reply(&run).expect_echo();
    assert_relayed_by_gateway(&s, "/v1/dns");
    let dns = s.dns.as_ref().expect("DNS server");
    assert!(
        dns.queries().iter().any(|q| q.name == API_HOST),
        "the gateway should have asked the DNS server for {API_HOST}: {:?}",
        dns.queries()
    );
}

fn python_has_requests() -> bool {
    gateway_tests::client::TimedCommand::new("python3")
        .args(["-c", "import requests"])
        .run()
        .success()
}
