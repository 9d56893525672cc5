//! Human approval end to end: a request whose rule says `approve` is held
//! while a person decides with `gateway approvals`; approval sends it,
//! denial and expiry end it with their own answers; a request nobody
//! decided in time gets `approval_pending`, and once approved, one
//! identical retry goes through, once. Pending approvals are capped per
//! agent and identical ones deduplicated. The admin socket is out of an
//! agent's reach.

use std::time::Duration;

use gateway_tests::approval_flow::{
    SECRET, approval_answer, decide, held_ids, post, reply_of, send, send_held, shown_status,
    wait_held,
};
use gateway_tests::client::TimedCommand;
use gateway_tests::gateway::config::{ApprovalOptions, Rule};
use gateway_tests::https_scenario::{API_HOST, HttpsScenario};

const PAY: &str = "/v1/pay";

fn scenario(tag: &str, approvals: ApprovalOptions) -> HttpsScenario {
    HttpsScenario::builder(tag)
        .rules(&[Rule::approve("pay", &[API_HOST])
            .methods(&["POST"])
            .paths(&[PAY])
            .reason("Payments need a person")])
        .approvals(approvals)
        .start()
}

fn hold(seconds: u64) -> ApprovalOptions {
    ApprovalOptions {
        hold_seconds: Some(seconds),
        ..ApprovalOptions::default()
    }
}

#[test]
fn held_request_completes_after_cli_approve() {
    let s = scenario("appr-approve", hold(60));
    let body = r#"{"to":"alice","amount":10}"#;
    let held = send_held(&s, PAY, body);
    let id = wait_held(&s.gateway, 1);
    s.upstream
        .assert_no_request_to(PAY, "a held request is not sent before approval");

    let show = s.gateway.cli(&["approvals", "show", &id]);
    assert!(show.success(), "{show:#?}");
    for expected in [
        "POST /v1/pay HTTP/1.1",
        "authorization: [redacted]",
        "content-type: application/json",
        body,
        "status:    pending",
        "rule:      pay (Payments need a person)",
    ] {
        assert!(
            show.stdout.contains(expected),
            "show lacks {expected:?}: {show:#?}"
        );
    }
    assert!(
        !show.stdout.contains(SECRET),
        "the credential is shown: {show:#?}"
    );
    let list = s.gateway.cli(&["approvals", "list"]);
    assert!(list.success() && list.stdout.contains(&id), "{list:#?}");

    let approved = decide(&s.gateway, "approve", &id, None);
    assert!(approved.stdout.contains("approved"), "{approved:#?}");
    let reply = reply_of(held);
    let echo = reply.expect_echo();
    assert_eq!(echo.text("path"), PAY);
    assert_eq!(s.upstream.requests_to(PAY).len(), 1, "sent exactly once");
    assert_eq!(shown_status(&s.gateway, &id), "used");
    s.gateway
        .assert_no_log_mentioning(SECRET, "credentials are never logged");
}

#[test]
fn deny_ends_the_held_request_and_stays_final() {
    let s = scenario("appr-deny", hold(60));
    let held = send_held(&s, PAY, r#"{"amount":99}"#);
    let id = wait_held(&s.gateway, 1);
    decide(&s.gateway, "deny", &id, Some("not this month"));
    let reply = reply_of(held);
    let (answer_id, status) = approval_answer(&reply, 403, "approval_denied");
    assert_eq!(
        (answer_id.as_str(), status.as_str()),
        (id.as_str(), "denied")
    );
    assert_eq!(
        reply.json()["decision_reason"],
        "not this month",
        "{reply:#?}"
    );

    // The identical request is denied at once, without a new approval.
    let again = send(&s, PAY, r#"{"amount":99}"#);
    let (again_id, _) = approval_answer(&again, 403, "approval_denied");
    assert_eq!(again_id, id);
    assert_eq!(
        held_ids(&s.gateway).len(),
        1,
        "no new approval was asked for"
    );
    s.upstream
        .assert_no_request_to(PAY, "a denied request is never sent");
}

#[test]
fn expiry_ends_the_held_request_and_a_new_request_asks_again() {
    let s = scenario(
        "appr-expire",
        ApprovalOptions {
            hold_seconds: Some(30),
            expire_seconds: Some(2),
            ..ApprovalOptions::default()
        },
    );
    let held = send_held(&s, PAY, "{}");
    let id = wait_held(&s.gateway, 1);
    let started = std::time::Instant::now();
    let reply = reply_of(held);
    let (answer_id, status) = approval_answer(&reply, 403, "approval_expired");
    assert_eq!(
        (answer_id.as_str(), status.as_str()),
        (id.as_str(), "expired")
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "ended at expiry, not at the hold"
    );
    assert_eq!(shown_status(&s.gateway, &id), "expired");
    let approve_late = s.gateway.cli(&["approvals", "approve", &id]);
    assert!(
        !approve_late.success(),
        "an expired approval cannot be approved: {approve_late:#?}"
    );

    let next = send_held(&s, PAY, "{}");
    let fresh = wait_held(&s.gateway, 2);
    assert_ne!(fresh, id, "expired is final: a new request asks anew");
    decide(&s.gateway, "approve", &fresh, None);
    reply_of(next).expect_echo();
}

#[test]
fn the_retry_after_approval_goes_through_once_and_only_once() {
    let s = scenario("appr-retry", hold(1));
    let headers = s.dir.path().join("headers.txt");
    let run = post(&s, PAY, r#"{"n":1}"#, Some(&headers)).run();
    let reply = s.curl_reply(&run);
    let (id, status) = approval_answer(&reply, 403, "approval_pending");
    assert_eq!(status, "pending");
    let dumped = std::fs::read_to_string(&headers).expect("curl's header dump");
    assert!(
        dumped.to_ascii_lowercase().contains("retry-after:"),
        "a pending answer says when to retry: {dumped}"
    );
    s.upstream
        .assert_no_request_to(PAY, "nothing sent while pending");

    decide(&s.gateway, "approve", &id, Some("ok once"));
    // A changed body is another request: not covered.
    let changed = send(&s, PAY, r#"{"n":2}"#);
    let (changed_id, _) = approval_answer(&changed, 403, "approval_pending");
    assert_ne!(changed_id, id, "a changed body needs its own approval");
    // A changed URL neither.
    let other_url = send(&s, &format!("{PAY}?n=1"), r#"{"n":1}"#);
    let (url_id, _) = approval_answer(&other_url, 403, "approval_pending");
    assert_ne!(url_id, id, "a changed query needs its own approval");
    assert!(
        s.upstream.requests_to(PAY).is_empty(),
        "{:#?}",
        s.upstream.requests()
    );

    send(&s, PAY, r#"{"n":1}"#).expect_echo();
    assert_eq!(s.upstream.requests_to(PAY).len(), 1);
    let second = send(&s, PAY, r#"{"n":1}"#);
    let (second_id, status) = approval_answer(&second, 403, "approval_pending");
    assert_ne!(second_id, id, "the second retry needs a new approval");
    assert_eq!(status, "pending");
    assert_eq!(s.upstream.requests_to(PAY).len(), 1, "used once only");
    assert_eq!(shown_status(&s.gateway, &id), "used");
}

#[test]
fn identical_pending_requests_share_one_approval_and_the_cap_holds() {
    let s = scenario(
        "appr-cap",
        ApprovalOptions {
            hold_seconds: Some(0),
            max_pending_per_agent: Some(2),
            ..ApprovalOptions::default()
        },
    );
    let (first, _) = approval_answer(&send(&s, PAY, "{\"a\":1}"), 403, "approval_pending");
    let (same, _) = approval_answer(&send(&s, PAY, "{\"a\":1}"), 403, "approval_pending");
    assert_eq!(same, first, "an identical pending request is deduplicated");
    approval_answer(&send(&s, PAY, "{\"a\":2}"), 403, "approval_pending");
    let third = send(&s, PAY, "{\"a\":3}");
    third.expect_refusal(429, "too_many_pending_approvals");
    let list = s.gateway.cli(&["approvals", "list"]);
    assert_eq!(
        list.stdout
            .lines()
            .filter(|l| l.contains("pending"))
            .count(),
        2,
        "{list:#?}"
    );
    // Deciding one frees a place.
    decide(&s.gateway, "deny", &first, None);
    approval_answer(&send(&s, PAY, "{\"a\":3}"), 403, "approval_pending");
}

#[test]
fn a_large_body_is_bound_whole_and_an_oversized_one_refused() {
    let s = scenario("appr-large", hold(0));
    let large = s.dir.path().join("large.json");
    let text = format!("{{\"blob\":\"{}\"}}", "x".repeat(300_000));
    std::fs::write(&large, &text).unwrap();
    let body = format!("@{}", large.display());
    let (id, _) = approval_answer(&send(&s, PAY, &body), 403, "approval_pending");
    let show = s.gateway.cli(&["approvals", "show", &id]);
    assert!(
        show.stdout.contains(&format!("{} bytes", text.len())) && show.stdout.contains("[preview"),
        "the whole body is bound, a preview shown: {show:#?}"
    );
    assert!(
        show.stdout.len() < 8_000,
        "only a preview is shown: {} bytes",
        show.stdout.len()
    );
    decide(&s.gateway, "approve", &id, None);
    let echo = send(&s, PAY, &body).expect_echo();
    assert_eq!(
        echo.body_len(),
        text.len() as u64,
        "the approved bytes went out whole"
    );

    let huge = s.dir.path().join("huge.bin");
    std::fs::write(&huge, vec![b'y'; 9 * 1024 * 1024]).unwrap();
    let refused = send(&s, PAY, &format!("@{}", huge.display()));
    refused.expect_refusal(413, "body_too_large_for_approval");
    assert_eq!(s.upstream.requests_to(PAY).len(), 1);
}

/// A Python client that connects to a unix socket, sends one request and
/// prints the answer (exit 3 if it cannot connect); as an agent: in the
/// agent's cgroup as user nobody.
fn socket_client(socket: &std::path::Path, agent: Option<&std::path::Path>) -> TimedCommand {
    const PROGRAM: &str = "import socket,sys\n\
        s=socket.socket(socket.AF_UNIX)\n\
        try:\n s.connect(sys.argv[1])\nexcept OSError as e:\n print('connect failed:', e); sys.exit(3)\n\
        try:\n s.sendall(b'{\"op\":\"list\"}\\n')\nexcept OSError:\n pass\n\
        print(s.recv(65536).decode())";
    let cmd = match agent {
        Some(cgroup) => TimedCommand::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--",
                "/usr/bin/python3",
            ])
            .in_cgroup(cgroup),
        None => TimedCommand::new("python3"),
    };
    cmd.arg("-c").arg(PROGRAM).arg(socket)
}

#[test]
fn an_agent_cannot_reach_the_admin_socket() {
    use std::os::unix::fs::PermissionsExt as _;
    let s = scenario("appr-admin", hold(0));
    approval_answer(&send(&s, PAY, "{}"), 403, "approval_pending");
    let state = s.gateway.state_dir().to_owned();
    let socket = state.join("admin.sock");
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700, "the state directory is root-only");
    assert_eq!(mode(&socket), 0o600, "the admin socket is root-only");

    // An agent process (its cgroup, an unprivileged user) cannot connect.
    let run = socket_client(&socket, Some(s.agent.path())).run();
    assert_eq!(run.code, Some(3), "{run:#?}");
    assert!(run.stdout.contains("Permission denied"), "{run:#?}");

    // Even with the file modes opened up, the gateway answers root only.
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let run = socket_client(&socket, Some(s.agent.path())).run();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(run.success(), "{run:#?}");
    assert!(
        run.stdout.contains("answers root only") && !run.stdout.contains("approvals"),
        "a non-root peer gets nothing: {run:#?}"
    );
    // Root gets the list over the same socket.
    let run = socket_client(&socket, None).run();
    assert!(run.stdout.contains("\"approvals\""), "{run:#?}");
}
