//! The audit log end to end: every decision is recorded (allowed, denied,
//! approval requested, approved and denied by whom through which channel,
//! used), `gateway audit export` writes them as JSON lines (from the
//! running gateway over its socket, or from the database when stopped),
//! and `gateway audit verify` finds an altered, removed or reordered
//! record in a copy of the database tampered with through sled.

use std::path::Path;

use gateway_tests::approval_flow::{SECRET, approval_answer, decide, send};
use gateway_tests::client::{Run, TimedCommand};
use gateway_tests::gateway::config::{ApprovalOptions, Rule};
use gateway_tests::https_scenario::{API_HOST, HttpsScenario};

fn records(export: &Run) -> Vec<serde_json::Value> {
    assert!(export.success(), "{export:#?}");
    export
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn kinds(records: &[serde_json::Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn verify_dir(dir: &Path) -> Run {
    TimedCommand::new(gateway_tests::preflight::gateway_bin())
        .args(["audit", "verify", "--state-dir"])
        .arg(dir)
        .run()
}

fn copy_state(from: &Path, to: &Path) {
    let run = TimedCommand::new("cp").arg("-a").arg(from).arg(to).run();
    assert!(run.success(), "{run:#?}");
}

/// Opens the `audit` tree of a stopped gateway's database copy.
fn audit_tree(state: &Path) -> (sled::Db, sled::Tree) {
    let db = sled::open(state.join("db")).expect("opening the copied database");
    let tree = db.open_tree("audit").expect("the audit tree");
    (db, tree)
}

fn key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

fn assert_broken(state: &Path, seq: u64, problem: &str) {
    let run = verify_dir(state);
    assert_eq!(run.code, Some(2), "verify must fail: {run:#?}");
    assert!(
        run.stderr.contains(&format!("seq {seq}")) && run.stderr.contains(problem),
        "verify should name seq {seq} and {problem:?}: {run:#?}"
    );
}

/// A gateway that has decided one of each: allowed, denied, approval
/// requested (twice), approved and denied through the CLI, used. Returns
/// the approved approval's id.
fn scenario_with_decisions(tag: &str) -> (HttpsScenario, String) {
    let s = HttpsScenario::builder(tag)
        .rules(&[
            Rule::allow("read", &[API_HOST])
                .methods(&["GET"])
                .paths(&["/v1/ok"]),
            Rule::approve("pay", &[API_HOST])
                .methods(&["POST"])
                .paths(&["/v1/pay"])
                .reason("Payments need a person"),
        ])
        .approvals(ApprovalOptions {
            hold_seconds: Some(0),
            ..ApprovalOptions::default()
        })
        .start();
    let get = |path: &str| {
        let url = HttpsScenario::url(API_HOST, path);
        let run = s
            .agents
            .curl(&url)
            .arg(&url)
            .in_cgroup(s.agent.path())
            .run();
        s.curl_reply(&run)
    };
    get("/v1/ok").expect_echo();
    get("/v1/nope").expect_refusal(403, "denied");
    let (approved, _) = approval_answer(&send(&s, "/v1/pay", "{\"a\":1}"), 403, "approval_pending");
    let (refused, _) = approval_answer(&send(&s, "/v1/pay", "{\"a\":2}"), 403, "approval_pending");
    decide(&s.gateway, "approve", &approved, Some("fine"));
    decide(&s.gateway, "deny", &refused, Some("too much"));
    send(&s, "/v1/pay", "{\"a\":1}").expect_echo();
    (s, approved)
}

#[test]
fn every_decision_is_recorded_and_exported() {
    let (s, approved) = scenario_with_decisions("audit-export");
    // Over the admin socket while the gateway runs.
    let live = verify_dir(s.gateway.state_dir());
    assert!(
        live.success() && live.stdout.contains("chain intact"),
        "{live:#?}"
    );
    let exported = records(&s.gateway.cli(&["audit", "export"]));
    assert!(
        !serde_json::to_string(&exported).unwrap().contains(SECRET),
        "no credentials"
    );
    let seen = kinds(&exported);
    for kind in [
        "allowed",
        "denied",
        "approval_requested",
        "approved",
        "approval_denied",
        "approval_used",
    ] {
        assert!(
            seen.iter().any(|k| k == kind),
            "no {kind} record in {seen:?}"
        );
    }
    let decision = exported
        .iter()
        .find(|r| r["kind"] == "approved")
        .expect("the approval");
    assert_eq!(decision["approval_id"], approved.as_str());
    assert_eq!(
        (decision["by"].as_str(), decision["via"].as_str()),
        (Some("root"), Some("cli"))
    );
    assert_eq!(decision["reason"], "fine");
    let denied = exported
        .iter()
        .find(|r| r["kind"] == "denied")
        .expect("the denial");
    assert_eq!(
        (denied["path"].as_str(), denied["rule"].as_str()),
        (Some("/v1/nope"), Some("default"))
    );
    for (i, record) in exported.iter().enumerate() {
        assert_eq!(record["seq"], i as u64 + 1, "in order from 1: {record}");
    }
    let future = records(
        &s.gateway
            .cli(&["audit", "export", "--since", "2999-01-01T00:00:00Z"]),
    );
    assert!(future.is_empty(), "{future:?}");
    let since = exported[2]["time_unix_ms"].as_u64().unwrap().to_string();
    let later = records(&s.gateway.cli(&["audit", "export", "--since", &since]));
    assert!(
        later.len() < exported.len() && later.len() >= exported.len() - 2,
        "{later:?}"
    );
}

#[test]
fn verify_names_an_altered_removed_or_reordered_record() {
    let (mut s, _) = scenario_with_decisions("audit-tamper");
    // Stopped: the CLI reads the database itself.
    s.gateway.terminate();
    let offline = verify_dir(s.gateway.state_dir());
    assert!(offline.success(), "{offline:#?}");
    let total: u64 = offline
        .stdout
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("verify prints the count: {offline:#?}"));
    assert!(total >= 7, "one record per decision: {offline:#?}");

    let work = s.dir.path().join("tampered");
    std::fs::create_dir_all(&work).unwrap();
    let copy = |name: &str| {
        let to = work.join(name);
        copy_state(s.gateway.state_dir(), &to);
        to
    };

    let altered = copy("altered");
    {
        let (_db, tree) = audit_tree(&altered);
        let mut record: serde_json::Value =
            serde_json::from_slice(&tree.get(key(2)).unwrap().unwrap()).unwrap();
        record["path"] = "/v1/innocent".into();
        tree.insert(key(2), serde_json::to_vec(&record).unwrap())
            .unwrap();
    }
    assert_broken(&altered, 2, "altered");

    let removed = copy("removed");
    {
        let (_db, tree) = audit_tree(&removed);
        tree.remove(key(3)).unwrap();
    }
    assert_broken(&removed, 4, "removed");

    let reordered = copy("reordered");
    {
        let (_db, tree) = audit_tree(&reordered);
        let (a, b) = (
            tree.get(key(3)).unwrap().unwrap(),
            tree.get(key(4)).unwrap().unwrap(),
        );
        tree.insert(key(3), b).unwrap();
        tree.insert(key(4), a).unwrap();
    }
    assert_broken(&reordered, 3, "reordered");

    let truncated = copy("truncated");
    {
        let (_db, tree) = audit_tree(&truncated);
        tree.remove(key(total)).unwrap();
    }
    assert_broken(&truncated, total, "removed");

    // The untouched original still verifies.
    assert!(verify_dir(s.gateway.state_dir()).success());
}
