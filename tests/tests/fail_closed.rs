//! When the gateway stops, agents' connections fail instead of going direct;
//! `gateway detach` is what lets them go direct again.

use std::time::Duration;

use gateway_tests::scenario::{Scenario, allow_upstream};
use gateway_tests::tcp_clients::{EchoOutcome, python_echo};

/// One relayed connection, the gateway stopped by `stop`, then: refused
/// quickly, nothing reaches the upstream; after detach: direct.
fn assert_fails_closed(tag: &str, stop: impl FnOnce(&mut Scenario)) {
    let mut s = Scenario::start(tag, allow_upstream);
    let dst = s.upstream_v4();
    let host = dst.ip().to_string();
    let before = python_echo(&host, dst.port())
        .in_cgroup(s.agent.path())
        .run();
    EchoOutcome::expect_relayed(&before);
    s.gateway
        .wait_for_event("connection allowed", &dst.to_string());
    assert_eq!(s.upstream.accepted().len(), 1);

    stop(&mut s);
    assert!(
        s.gateway.pin_dir().exists(),
        "the links must stay pinned after the gateway stops: {} is gone",
        s.gateway.pin_dir().display()
    );

    let after = python_echo(&host, dst.port())
        .in_cgroup(s.agent.path())
        .timeout(Duration::from_secs(10))
        .run();
    EchoOutcome::expect_failed_with(&after, &["ConnectionRefusedError"]);
    assert!(
        after.elapsed < Duration::from_secs(5),
        "failing closed should be immediate, took {:?}",
        after.elapsed
    );
    s.upstream
        .assert_accepted_stays(1, "with the gateway gone, nothing may reach the upstream");

    s.gateway.detach();
    let direct = python_echo(&host, dst.port())
        .in_cgroup(s.agent.path())
        .run();
    let (outcome, greeting) = EchoOutcome::expect_relayed(&direct);
    assert_eq!(
        Some(greeting.peer),
        outcome.sockname,
        "after detach the agent connects directly"
    );
}

#[test]
fn sigkill_fails_closed_until_detach() {
    assert_fails_closed("closed-sigkill", |s| s.gateway.kill9());
}

#[test]
fn sigterm_fails_closed_until_detach() {
    assert_fails_closed("closed-sigterm", |s| {
        let status = s.gateway.terminate();
        assert!(
            status.success(),
            "gateway should exit 0 on SIGTERM, got {status}\n{}",
            s.gateway.dump()
        );
    });
}
