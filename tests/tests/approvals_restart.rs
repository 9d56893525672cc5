//! Approvals survive the gateway being killed (SIGKILL) at any moment and
//! restarted, many times over: nothing acknowledged is lost (a pending
//! answer, a CLI decision) and nothing is approved twice (a used approval
//! stays used). The audit chain stays intact through it all.

use std::time::Duration;

use gateway_tests::approval_flow::{approval_answer, decide, post, send, shown_status};
use gateway_tests::gateway::config::{ApprovalOptions, Rule};
use gateway_tests::https_clients::curl_reply;
use gateway_tests::https_scenario::{API_HOST, HttpsScenario};

const PAY: &str = "/v1/pay";
const ROUNDS: u64 = 20;

fn scenario(tag: &str) -> HttpsScenario {
    HttpsScenario::builder(tag)
        .rules(&[Rule::approve("pay", &[API_HOST])
            .methods(&["POST"])
            .paths(&[PAY])
            .reason("Payments need a person")])
        .approvals(ApprovalOptions {
            hold_seconds: Some(0),
            max_pending_per_agent: Some(1000),
            ..ApprovalOptions::default()
        })
        .start()
}

/// A different moment in each round: 0 to 45 ms after the acknowledgement.
fn moment(round: u64, salt: u64) -> Duration {
    Duration::from_millis((round * 7 + salt * 13) % 50)
}

fn kill_and_restart(s: &mut HttpsScenario, after: Duration) {
    std::thread::sleep(after);
    s.gateway.kill9();
    s.gateway.restart();
}

#[test]
fn approvals_survive_kill9_and_restart_in_a_loop() {
    let mut s = scenario("appr-kill9");
    for round in 0..ROUNDS {
        let body = format!("{{\"round\":{round}}}");
        // Pending, acknowledged by the answer: still there after SIGKILL.
        let (id, _) = approval_answer(&send(&s, PAY, &body), 403, "approval_pending");
        kill_and_restart(&mut s, moment(round, 0));
        assert_eq!(shown_status(&s.gateway, &id), "pending", "round {round}");
        let (same, _) = approval_answer(&send(&s, PAY, &body), 403, "approval_pending");
        assert_eq!(
            same, id,
            "round {round}: the same request finds its approval"
        );

        // Approved, acknowledged by the CLI: still approved after SIGKILL.
        decide(&s.gateway, "approve", &id, None);
        kill_and_restart(&mut s, moment(round, 1));
        assert_eq!(shown_status(&s.gateway, &id), "approved", "round {round}");

        // Used by one retry: used for good, even right after a SIGKILL.
        send(&s, PAY, &body).expect_echo();
        kill_and_restart(&mut s, moment(round, 2));
        assert_eq!(shown_status(&s.gateway, &id), "used", "round {round}");
        let (next, _) = approval_answer(&send(&s, PAY, &body), 403, "approval_pending");
        assert_ne!(
            next, id,
            "round {round}: a used approval does not cover a second retry"
        );
        assert_eq!(
            s.upstream.requests_to(PAY).len(),
            usize::try_from(round + 1).unwrap(),
            "round {round}: each approval sent exactly one request"
        );
    }
    let verify = s.gateway.cli(&["audit", "verify"]);
    assert!(verify.success(), "the chain survives SIGKILLs: {verify:#?}");
}

#[test]
fn a_sigkill_during_a_burst_loses_no_acknowledged_approval() {
    let mut s = scenario("appr-burst");
    let (mut checked, mut interrupted) = (0, 0);
    for round in 0..6u64 {
        let commands: Vec<_> = (0..12)
            .map(|n| post(&s, PAY, &format!("{{\"burst\":{round},\"n\":{n}}}"), None))
            .collect();
        let burst = std::thread::spawn(move || {
            commands
                .into_iter()
                .map(gateway_tests::client::TimedCommand::run)
                .collect::<Vec<_>>()
        });
        // Kill at moments from the burst's very start (some requests are
        // surely cut off) to well after most of it (some surely answered):
        // 10, 35, 110, 235, 410, 635 ms. A fixed middle moment proved
        // machine-dependent: on a fast run every burst had finished.
        kill_and_restart(&mut s, Duration::from_millis(10 + round * round * 25));
        let runs = burst.join().expect("the burst thread");
        let acknowledged: Vec<String> = runs
            .iter()
            .filter(|run| run.success())
            .map(curl_reply)
            .filter(|reply| reply.status == 403)
            .map(|reply| approval_answer(&reply, 403, "approval_pending").0)
            .collect();
        checked += acknowledged.len();
        interrupted += runs.len() - acknowledged.len();
        for id in &acknowledged {
            assert_eq!(
                shown_status(&s.gateway, id),
                "pending",
                "round {round}: approval {id} was acknowledged before the SIGKILL"
            );
        }
    }
    eprintln!(
        "{checked} acknowledged approvals checked, {interrupted} requests cut off by SIGKILLs"
    );
    assert!(
        checked >= 12 && interrupted >= 1,
        "the bursts must both create approvals and be cut off: {checked} acknowledged, {interrupted} cut off"
    );
    let verify = s.gateway.cli(&["audit", "verify"]);
    assert!(verify.success(), "{verify:#?}");
}
