//! The audit log end to end: every decision is recorded (allowed, denied,
//! approval requested, approved and denied by whom through which channel,
//! used), `gateway audit export` writes them as JSON lines (from the
//! running gateway over its socket, or from the database when stopped),
//! and `gateway audit verify` finds an altered, removed or reordered
//! record in a copy of the database tampered with through sled (records
//! are stored a batch per value: a JSON array under its first seq);
//! `gateway audit prune` removes old records and the chain goes on from
//! its checkpoint.

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

/// The stored batches in key order: first seq and records.
type Batches = Vec<(u64, Vec<serde_json::Value>)>;

/// Rewrites the batches in a stopped gateway's database copy as `change`
/// leaves them, through sled (the head is left alone).
fn tamper(state: &Path, change: impl FnOnce(&mut Batches)) {
    let db = sled::open(state.join("db")).expect("opening the copied database");
    let tree = db.open_tree("audit").expect("the audit tree");
    let keys: Vec<sled::IVec> = tree
        .iter()
        .keys()
        .map(Result::unwrap)
        .filter(|key| key.len() == 8)
        .collect();
    let mut all: Batches = keys
        .iter()
        .map(|key| {
            let first = u64::from_be_bytes(key.as_ref().try_into().unwrap());
            let value = tree.get(key).unwrap().unwrap();
            (first, serde_json::from_slice(&value).expect("a batch"))
        })
        .collect();
    change(&mut all);
    for key in keys {
        tree.remove(key).unwrap();
    }
    for (first, records) in &all {
        tree.insert(first.to_be_bytes(), serde_json::to_vec(records).unwrap())
            .unwrap();
    }
    db.flush().unwrap();
}

/// Where record `seq` is: its batch's index and its index in the batch.
fn place(all: &Batches, seq: u64) -> (usize, usize) {
    all.iter()
        .enumerate()
        .find_map(|(b, (_, records))| records.iter().position(|r| r["seq"] == seq).map(|i| (b, i)))
        .unwrap_or_else(|| panic!("no record {seq} stored"))
}

/// Takes record `seq` out of its batch; an emptied batch goes too.
fn remove_record(all: &mut Batches, seq: u64) {
    let (b, i) = place(all, seq);
    all[b].1.remove(i);
    if all[b].1.is_empty() {
        all.remove(b);
    }
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
    s.get(&HttpsScenario::url(API_HOST, "/v1/ok")).expect_echo();
    s.get(&HttpsScenario::url(API_HOST, "/v1/nope"))
        .expect_refusal(403, "denied");
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
    tamper(&altered, |all| {
        let (b, i) = place(all, 2);
        all[b].1[i]["path"] = "/v1/innocent".into();
    });
    assert_broken(&altered, 2, "altered");

    let removed = copy("removed");
    tamper(&removed, |all| remove_record(all, 3));
    assert_broken(&removed, 4, "removed");

    let reordered = copy("reordered");
    // In one batch or across two, wherever they were written.
    tamper(&reordered, |all| {
        let ((ab, ai), (bb, bi)) = (place(all, 3), place(all, 4));
        let third = all[ab].1[ai].clone();
        all[ab].1[ai] = std::mem::replace(&mut all[bb].1[bi], third);
    });
    assert_broken(&reordered, 3, "reordered");

    let truncated = copy("truncated");
    tamper(&truncated, |all| remove_record(all, total));
    assert_broken(&truncated, total, "removed");

    // The whole last batch cut off: named by its first seq.
    let cut = copy("cut");
    let mut last_first = 0;
    tamper(&cut, |all| last_first = all.pop().expect("a batch").0);
    assert!(last_first >= 1 && last_first <= total);
    assert_broken(&cut, last_first, "removed");

    // The untouched original still verifies.
    assert!(verify_dir(s.gateway.state_dir()).success());
}

#[test]
fn old_records_are_pruned_and_the_chain_goes_on() {
    let (s, _) = scenario_with_decisions("audit-prune");
    let before = records(&s.gateway.cli(&["audit", "export"]));
    let total = before.len() as u64;
    let newest = before.last().unwrap()["time_unix_ms"].as_u64().unwrap();

    let bad = s
        .gateway
        .cli(&["audit", "prune", "--before", "last tuesday"]);
    assert!(
        !bad.success() && bad.stderr.contains("--before"),
        "a bad time is named: {bad:#?}"
    );
    let untouched = s.gateway.cli(&["audit", "prune", "--before", "0"]);
    assert!(
        untouched.success() && untouched.stdout.contains("nothing to remove"),
        "{untouched:#?}"
    );

    // Over the running gateway's socket: every record so far goes.
    let cutoff = (newest + 1).to_string();
    let pruned = s.gateway.cli(&["audit", "prune", "--before", &cutoff]);
    assert!(
        pruned.success() && pruned.stdout.contains(&format!("removed {total} records")),
        "{pruned:#?}"
    );
    let after = records(&s.gateway.cli(&["audit", "export"]));
    assert_eq!(kinds(&after), ["pruned"], "{after:?}");
    assert_eq!(after[0]["seq"], total + 1);
    assert_eq!(after[0]["count"], total);
    assert_eq!(
        (after[0]["by"].as_str(), after[0]["via"].as_str()),
        (Some("root"), Some("cli"))
    );

    // The agent goes on; its records chain onto the prune's.
    s.get(&HttpsScenario::url(API_HOST, "/v1/ok")).expect_echo();
    // The allowed record reaches the log through the writer thread (every
    // 20 ms): wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let last = loop {
        let last = records(&s.gateway.cli(&["audit", "export"]));
        if last.len() >= 2 || std::time::Instant::now() > deadline {
            break last;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(kinds(&last), ["pruned", "allowed"], "{last:?}");
    assert_eq!(last[1]["prev_hash"], last[0]["hash"]);
    let verified = verify_dir(s.gateway.state_dir());
    assert!(
        verified.success()
            && verified
                .stdout
                .contains(&format!("the {total} before were pruned")),
        "{verified:#?}"
    );
}
