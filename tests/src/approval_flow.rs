//! What the approval tests share: an agent's POST through curl (with a
//! credential header the gateway must never store), run now or in a
//! thread while a person decides, the gateway's approval answers, and the
//! admin CLI.

use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::client::{Run, TimedCommand};
use crate::gateway::Gateway;
use crate::https_clients::{Reply, curl_reply};
use crate::https_scenario::{API_HOST, HttpsScenario};

/// The credential every test request carries; it must never be stored or shown.
pub const SECRET: &str = "sk-live-approval-test-0123456789";

/// `curl -X POST https://api.test.example<path>` with `body`, the
/// credential header and, if given, the response headers dumped to `headers`.
pub fn post(s: &HttpsScenario, path: &str, body: &str, headers: Option<&Path>) -> TimedCommand {
    let url = HttpsScenario::url(API_HOST, path);
    let mut cmd = s
        .agents
        .curl(&url)
        .args(["-X", "POST", "-H", "content-type: application/json"])
        .arg("-H")
        .arg(format!("authorization: Bearer {SECRET}"))
        .args(["--data-binary", body]);
    if let Some(file) = headers {
        cmd = cmd.arg("-D").arg(file);
    }
    cmd.arg(&url)
        .in_cgroup(s.agent.path())
        .timeout(Duration::from_mins(2))
}

/// Sends the POST and returns curl's reply.
pub fn send(s: &HttpsScenario, path: &str, body: &str) -> Reply {
    let run = post(s, path, body, None).run();
    s.curl_reply(&run)
}

/// Sends the POST on a thread (it is held open); join for the reply.
pub fn send_held(s: &HttpsScenario, path: &str, body: &str) -> JoinHandle<Run> {
    let cmd = post(s, path, body, None);
    std::thread::spawn(move || cmd.run())
}

/// Joins a held request and returns its reply.
pub fn reply_of(held: JoinHandle<Run>) -> Reply {
    let run = held.join().expect("the agent's thread");
    curl_reply(&run)
}

/// The approval ids of "request held for approval" lines so far.
pub fn held_ids(gateway: &Gateway) -> Vec<String> {
    gateway
        .logs()
        .iter()
        .filter(|l| l.message() == "request held for approval")
        .filter_map(|l| l.field("approval_id"))
        .collect()
}

/// Waits until `n` requests have been held and returns the `n`th's approval id.
pub fn wait_held(gateway: &Gateway, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(id) = held_ids(gateway).get(n - 1) {
            return id.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {n} held requests within 20 s\n{}",
            gateway.dump()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `gateway approvals approve ID` (or `deny ID --reason R`); asserts success.
pub fn decide(gateway: &Gateway, verb: &str, id: &str, reason: Option<&str>) -> Run {
    let mut args = vec!["approvals", verb, id];
    if let Some(reason) = reason {
        args.extend(["--reason", reason]);
    }
    let run = gateway.cli(&args);
    assert!(
        run.success(),
        "gateway approvals {verb} {id}: {run:#?}\n{}",
        gateway.dump()
    );
    run
}

/// The status `gateway approvals show ID` prints.
pub fn shown_status(gateway: &Gateway, id: &str) -> String {
    let run = gateway.cli(&["approvals", "show", id]);
    assert!(run.success(), "gateway approvals show {id}: {run:#?}");
    run.stdout
        .lines()
        .find_map(|l| l.strip_prefix("status:"))
        .unwrap_or_else(|| panic!("no status line: {run:#?}"))
        .trim()
        .to_owned()
}

/// An approval answer's `error`, `approval_id` and `status`.
pub fn approval_answer(reply: &Reply, status: u16, error: &str) -> (String, String) {
    let refusal = reply.expect_refusal(status, error);
    let json = reply.json();
    let id = json["approval_id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        id.len(),
        16,
        "an approval answer names the approval: {refusal:#?} {json}"
    );
    let state = json["status"].as_str().unwrap_or_default().to_owned();
    (id, state)
}
