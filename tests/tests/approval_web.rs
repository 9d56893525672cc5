//! The local approvals web page: driven in a real headless Chromium, probed
//! with curl for its refusals, and out of reach of agents.
//!
//! The page is served by the real binary over an in-memory desk (the hidden
//! `gateway approvals-web-demo`): the browser and curl tests run it in a
//! namespace of their own with only `lo`, so nothing leaves the machine.

use std::time::Duration;

use gateway_tests::approval_web::{WebDemo, approval};
use gateway_tests::cgroup::AgentCgroup;
use gateway_tests::chromium::Chromium;
use gateway_tests::client::{Run, TimedCommand};
use gateway_tests::gateway::config::{GatewayOptions, Rule};
use gateway_tests::gateway::{Gateway, GatewayFiles};
use gateway_tests::netns::NetNs;
use gateway_tests::topology::Topology;
use gateway_tests::unique;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

fn decided(demo: &mut WebDemo, id: &str, status: &str) -> Value {
    let event = demo.wait_for(&format!("{id} {status}"), |e| {
        e["event"] == "changed" && e["approval"]["id"] == id && e["approval"]["status"] == status
    });
    event["approval"].clone()
}

/// `document.querySelector(selector)` as a JS literal.
fn query(selector: &str) -> String {
    format!("document.querySelector({})", json!(selector))
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one person's way through the page, step by step, reads best in order"
)]
fn the_page_shows_approvals_live_and_records_decisions_in_chromium() {
    let ns = NetNs::new(&unique::name("web-chromium"));
    let mut demo = WebDemo::start(Some(&ns), 0);
    demo.add(&approval("seed-1", "GET", "/repos/o/r/issues"));
    demo.wait_for("seed-1 created", |e| e["event"] == "created");
    let mut browser = Chromium::start_in(&ns);

    // Without the token link: the page says how to get it.
    browser.navigate(&demo.url("/"));
    let text = browser.evaluate("document.body.innerText");
    assert!(
        text.as_str()
            .unwrap_or("")
            .contains("gateway approvals web-url"),
        "{text}"
    );
    assert_eq!(
        browser.evaluate(&format!("{} === null", query("#pending"))),
        json!(true)
    );

    // The token link: cookie set, redirected to the page, list rendered.
    browser.navigate(&demo.url(&format!("/?token={}", demo.token())));
    browser.wait_until(
        "the pending list with seed-1",
        &format!("{} !== null", query("tr[data-id=\"seed-1\"]")),
        WAIT,
    );
    assert_eq!(
        browser.evaluate("location.pathname + location.search"),
        json!("/")
    );
    assert_eq!(
        browser.evaluate("document.cookie"),
        json!(""),
        "the cookie is HttpOnly"
    );
    browser.wait_until(
        "the live connection",
        "document.getElementById('live').textContent === 'live'",
        WAIT,
    );
    // Marks this document: a reload would lose it.
    browser.evaluate("window.notReloaded = true");

    // A new approval appears without a reload; its hostile content stays text.
    let hostile_path = "/repos/o/r/issues?q=<img src=x onerror=\"document.title='pwned'\">";
    let mut live = approval("live-2", "POST", hostile_path);
    live["headers"] = json!([["x-note", "<script>document.title='pwned'</script>"]]);
    demo.add(&live);
    browser.wait_until(
        "live-2 in the list without reload",
        &format!(
            "{} !== null && window.notReloaded === true",
            query("tr[data-id=\"live-2\"]")
        ),
        WAIT,
    );
    assert_eq!(
        browser.evaluate(&format!(
            "{}.textContent",
            query("tr[data-id=\"live-2\"] td.path")
        )),
        json!(hostile_path)
    );
    assert_eq!(
        browser.evaluate("document.getElementById('count').textContent"),
        json!("2")
    );

    // Details of the selected one: the request as it would be sent.
    browser.evaluate(&format!("{}.click()", query("tr[data-id=\"live-2\"]")));
    let request = browser.wait_until(
        "live-2's details",
        "document.getElementById('detail').dataset.id === 'live-2' && document.getElementById('d-request').textContent",
        WAIT,
    );
    let request = request.as_str().unwrap_or("");
    assert!(
        request.starts_with(&format!(
            "POST {hostile_path} HTTP/1.1\nHost: api.test.example\n"
        )),
        "{request}"
    );
    assert!(
        request.contains("x-note: <script>document.title='pwned'</script>"),
        "{request}"
    );
    assert_eq!(
        browser.evaluate("document.getElementById('d-sha').textContent"),
        json!("5e".repeat(32))
    );
    assert_eq!(
        browser.evaluate("document.querySelectorAll('img, main script').length"),
        json!(0)
    );
    assert_eq!(
        browser.evaluate("document.title"),
        json!("Gateway approvals")
    );

    // Approve, under a name typed into the page.
    browser.evaluate(
        "(() => { const who = document.getElementById('who'); who.value = 'Ada'; \
         who.dispatchEvent(new Event('change')); document.getElementById('approve').click(); })()",
    );
    let approved = decided(&mut demo, "live-2", "approved");
    assert_eq!(
        (
            approved["decided_via"].as_str(),
            approved["decided_by"].as_str()
        ),
        (Some("web"), Some("Ada"))
    );
    browser.wait_until(
        "the page to show the approval",
        &format!(
            "document.getElementById('d-result').textContent === 'Approved.' && {} === null",
            query("tr[data-id=\"live-2\"]")
        ),
        WAIT,
    );

    // Deny the other one, with a reason.
    browser.evaluate(&format!("{}.click()", query("tr[data-id=\"seed-1\"]")));
    browser.wait_until("seed-1's details", "document.getElementById('detail').dataset.id === 'seed-1' && !document.getElementById('deny').disabled", WAIT);
    browser.evaluate(
        "(() => { document.getElementById('deny-reason').value = 'not this repository'; \
         document.getElementById('deny').click(); })()",
    );
    let denied = decided(&mut demo, "seed-1", "denied");
    assert_eq!(denied["decision_reason"], json!("not this repository"));
    assert_eq!(
        (
            denied["decided_via"].as_str(),
            denied["decided_by"].as_str()
        ),
        (Some("web"), Some("Ada"))
    );
    browser.wait_until(
        "the empty list",
        "document.getElementById('count').textContent === '0' && !document.getElementById('empty').hidden",
        WAIT,
    );

    // From the page itself, a POST without the CSRF header is refused.
    demo.add(&approval("csrf-3", "DELETE", "/repos/o/r"));
    browser.wait_until(
        "csrf-3",
        &format!("{} !== null", query("tr[data-id=\"csrf-3\"]")),
        WAIT,
    );
    let status = browser.evaluate(
        "fetch('/api/approvals/csrf-3/approve', {method: 'POST', body: '{}'}).then(r => r.status)",
    );
    assert_eq!(status, json!(403));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !demo
            .drain_events()
            .iter()
            .any(|e| e["approval"]["id"] == "csrf-3" && e["event"] == "changed"),
        "a POST without the CSRF header changed csrf-3: {:#?}",
        demo.seen
    );

    assert_eq!(
        browser.evaluate("window.notReloaded"),
        json!(true),
        "the page never reloaded"
    );
    let violations: Vec<&String> = browser
        .console
        .iter()
        .filter(|l| l.contains("Content Security Policy") || l.starts_with("exception"))
        .collect();
    assert!(
        violations.is_empty(),
        "the page broke its own CSP or threw: {violations:#?}"
    );
}

/// `curl` inside `ns`, printing the status code after the body.
fn curl(ns: &NetNs, args: &[&str]) -> Run {
    TimedCommand::new("curl")
        .args([
            "-sS",
            "--noproxy",
            "*",
            "--max-time",
            "10",
            "-w",
            "\n%{http_code}",
        ])
        .args(args)
        .in_netns(ns)
        .run()
}

fn status_of(run: &Run) -> u16 {
    run.stdout
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no status from curl: {run:#?}"))
}

#[test]
fn the_page_refuses_requests_without_token_csrf_or_its_own_host() {
    let ns = NetNs::new(&unique::name("web-refusals"));
    let mut demo = WebDemo::start(Some(&ns), 0);
    demo.add(&approval("r-1", "POST", "/x"));
    demo.wait_for("r-1 created", |e| e["event"] == "created");
    let port = demo.addr.port();
    let cookie = format!("Cookie: gateway_approvals_{port}={}", demo.token());

    let no_token = curl(&ns, &[&demo.url("/")]);
    assert_eq!(status_of(&no_token), 401, "{no_token:#?}");
    assert!(
        no_token.stdout.contains("gateway approvals web-url"),
        "{no_token:#?}"
    );
    let no_token_api = curl(&ns, &[&demo.url("/api/approvals?pending=1")]);
    assert_eq!(status_of(&no_token_api), 401, "{no_token_api:#?}");

    let link = curl(
        &ns,
        &["-D", "-", &demo.url(&format!("/?token={}", demo.token()))],
    );
    assert_eq!(status_of(&link), 303, "{link:#?}");
    assert!(
        link.stdout
            .to_ascii_lowercase()
            .contains("httponly; samesite=strict"),
        "{link:#?}"
    );

    let list = curl(&ns, &["-H", &cookie, &demo.url("/api/approvals?pending=1")]);
    assert_eq!(status_of(&list), 200, "{list:#?}");
    assert!(list.stdout.contains("\"id\":\"r-1\""), "{list:#?}");

    let approve = demo.url("/api/approvals/r-1/approve");
    let no_csrf = curl(&ns, &["-X", "POST", "-H", &cookie, &approve]);
    assert_eq!(status_of(&no_csrf), 403, "{no_csrf:#?}");
    assert!(no_csrf.stdout.contains("cross_site"), "{no_csrf:#?}");

    let evil_host = format!("Host: evil.example:{port}");
    let rebound = curl(
        &ns,
        &["-H", &cookie, "-H", &evil_host, &demo.url("/api/approvals")],
    );
    assert_eq!(status_of(&rebound), 403, "{rebound:#?}");
    assert!(rebound.stdout.contains("wrong_host"), "{rebound:#?}");

    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !demo.drain_events().iter().any(|e| e["event"] == "changed"),
        "a refused request changed an approval: {:#?}",
        demo.seen
    );
}

/// The gateway refuses its own web page to agents even when the policy
/// allows every loopback port, and also when an allowed name resolves to
/// loopback. The page (served by this gateway) really is there: the same
/// curl outside the agent cgroup gets its 401.
#[test]
fn an_agent_cgroup_cannot_reach_the_web_page() {
    let web_port = unique::free_listen_port();
    let topo = Topology::new();
    let agent = AgentCgroup::new("web-agent");
    let page_name = "page.test.example";
    let options = GatewayOptions {
        hosts: vec![(page_name.to_owned(), vec!["127.0.0.1".parse().unwrap()])],
        web_port: Some(web_port),
        ..GatewayOptions::default()
    };
    let rules = [Rule::allow(
        "loopback-and-page",
        &["127.0.0.1", "::1", page_name, "10.233.0.0/16"],
    )];
    let files = GatewayFiles::write_with(
        "web-agent",
        agent.relative(),
        &gateway_tests::gateway::config::policy_toml(&rules),
        &options,
    );
    let gateway = Gateway::start_from(files);

    let page = format!("http://127.0.0.1:{web_port}/");
    let outside = TimedCommand::new("curl")
        .args([
            "-sS",
            "--noproxy",
            "*",
            "--max-time",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &page,
        ])
        .run();
    assert_eq!(
        outside.stdout.trim(),
        "401",
        "the page is there for the host: {outside:#?}"
    );

    let direct = TimedCommand::new("curl")
        .args(["-sS", "--noproxy", "*", "--max-time", "10", &page])
        .in_cgroup(agent.path())
        .run();
    assert!(
        !direct.success(),
        "an agent reached the web page: {direct:#?}"
    );
    assert!(!direct.stdout.contains("approvals"), "{direct:#?}");
    gateway.wait_for_log(
        "\"connection refused: the gateway's own port\"",
        |l| l.message() == "connection refused: the gateway's own port",
        WAIT,
    );

    // A name the gateway resolves to loopback, dialled at an allowed address.
    let dialled = format!("{page_name}:{web_port}:{}", topo.upstream_v4());
    let by_name = TimedCommand::new("curl")
        .args([
            "-sS",
            "--noproxy",
            "*",
            "--max-time",
            "10",
            "--resolve",
            &dialled,
        ])
        .arg(format!("http://{page_name}:{web_port}/"))
        .in_cgroup(agent.path())
        .run();
    assert!(by_name.stdout.contains("upstream_error"), "{by_name:#?}");
    assert!(
        by_name.stdout.contains("the gateway's own ports"),
        "{by_name:#?}"
    );
    assert!(!by_name.stdout.contains("access link"), "{by_name:#?}");
    assert!(
        !gateway
            .logs()
            .iter()
            .any(|l| l.message() == "connection allowed"),
        "the gateway relayed a connection to its own port\n{}",
        gateway.dump()
    );
}

#[test]
fn web_url_prints_the_link_that_opens_the_page() {
    let ns = NetNs::new(&unique::name("web-url"));
    let demo = WebDemo::start(Some(&ns), 0);
    let bin = gateway_tests::preflight::gateway_bin();
    let port = demo.addr.port().to_string();
    let run = TimedCommand::new(&bin)
        .args(["approvals", "web-url", "--state-dir"])
        .arg(demo.state_dir())
        .args(["--port", &port])
        .run()
        .expect_success("gateway approvals web-url");
    let url = run.stdout.trim();
    assert_eq!(url, demo.url(&format!("/?token={}", demo.token())));
    let opened = curl(&ns, &["-D", "-", url]);
    assert_eq!(status_of(&opened), 303, "{opened:#?}");

    // From a configuration: its state_dir and [approvals] web_port.
    let dir = gateway_tests::tempdir::TempDir::new("web-url-config");
    dir.write("policy.toml", "");
    let agent =
        "[[agents]]\nname = \"a\"\ncgroup = \"/gwtest-web-url\"\npolicy = \"policy.toml\"\n";
    let state = demo.state_dir().display();
    let config = dir.write(
        "gateway.toml",
        &format!("[gateway]\nstate_dir = \"{state}\"\n[approvals]\nweb_port = {port}\n{agent}"),
    );
    let from_config = TimedCommand::new(&bin)
        .args(["approvals", "web-url", "--config"])
        .arg(&config)
        .run()
        .expect_success("gateway approvals web-url --config");
    assert_eq!(from_config.stdout.trim(), url);
    let off = dir.write(
        "off.toml",
        &format!("[gateway]\nstate_dir = \"{state}\"\n[approvals]\nweb_port = 0\n{agent}"),
    );
    let refused = TimedCommand::new(&bin)
        .args(["approvals", "web-url", "--config"])
        .arg(&off)
        .run();
    assert!(!refused.success(), "{refused:#?}");
    assert!(refused.stderr.contains("web_port = 0"), "{refused:#?}");
    let missing = TimedCommand::new(&bin)
        .args(["approvals", "web-url", "--state-dir"])
        .arg(dir.path())
        .run();
    assert!(!missing.success(), "{missing:#?}");
    assert!(missing.stderr.contains("web.token"), "{missing:#?}");
}
