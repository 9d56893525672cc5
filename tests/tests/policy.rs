//! What the policy decides: allowed destinations are relayed, everything
//! else is refused with a reset and never reaches the upstream.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use gateway_tests::cgroup::AgentCgroup;
use gateway_tests::gateway::config::Rule;
use gateway_tests::gateway::{AGENT_NAME, Gateway};
use gateway_tests::scenario::{Scenario, allow_upstream};
use gateway_tests::tcp_clients::{EchoOutcome, python_echo};
use gateway_tests::upstream::UpstreamServer;

/// How a refused connection looks to the client: reset (or refused) before any data.
const REFUSED: &[&str] = &[
    "ConnectionResetError",
    "ConnectionRefusedError",
    "BrokenPipeError",
];

fn assert_denied(gateway: &Gateway, dst: SocketAddr, rule: &str) {
    let line = gateway.wait_for_event("connection denied", &dst.to_string());
    assert_eq!(line.field("rule").as_deref(), Some(rule), "{line:?}");
    assert_eq!(line.field("agent").as_deref(), Some(AGENT_NAME), "{line:?}");
}

#[test]
fn port_not_in_policy_is_refused() {
    let s = Scenario::start("policy-other-port", allow_upstream);
    let other = UpstreamServer::in_netns(s.topo.upstream_ns());
    let dst = SocketAddr::new(s.topo.upstream_v4().into(), other.port());
    let run = python_echo(&dst.ip().to_string(), dst.port())
        .in_cgroup(s.agent.path())
        .run();
    EchoOutcome::expect_failed_with(&run, REFUSED);
    assert_denied(&s.gateway, dst, "default");
    other.assert_accepted_stays(0, "a denied destination must not be contacted");
    s.upstream.assert_accepted_stays(0, "nothing was allowed");
}

#[test]
fn address_not_in_policy_is_refused() {
    let s = Scenario::start("policy-other-addr", allow_upstream);
    let dst = SocketAddr::new(s.topo.upstream_v4_other().into(), s.upstream.port());
    let run = python_echo(&dst.ip().to_string(), dst.port())
        .in_cgroup(s.agent.path())
        .run();
    EchoOutcome::expect_failed_with(&run, REFUSED);
    assert_denied(&s.gateway, dst, "default");
    s.upstream
        .assert_accepted_stays(0, "a denied destination must not be contacted");
}

#[test]
fn first_matching_rule_wins_deny_before_allow() {
    let s = Scenario::start("policy-deny-first", |topo, port| {
        vec![
            Rule::deny("blocked", &[topo.upstream_v4()]).ports(&[port]),
            Rule::allow("everything-here", &["10.233.0.0/16"]),
        ]
    });
    let dst = s.upstream_v4();
    let run = python_echo(&dst.ip().to_string(), dst.port())
        .in_cgroup(s.agent.path())
        .run();
    EchoOutcome::expect_failed_with(&run, REFUSED);
    assert_denied(&s.gateway, dst, "blocked");
    s.upstream
        .assert_accepted_stays(0, "a denied destination must not be contacted");
}

#[test]
fn loopback_destination_allowed_by_policy_is_relayed() {
    let local = UpstreamServer::on_host_loopback();
    let s = Scenario::start("policy-loopback-allow", |_, _| {
        vec![Rule::allow("loopback", &["127.0.0.1"]).ports(&[local.port()])]
    });
    let dst = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), local.port());
    let run = python_echo("127.0.0.1", dst.port())
        .in_cgroup(s.agent.path())
        .run();
    let (_, greeting) = EchoOutcome::expect_relayed(&run);
    let line = s
        .gateway
        .wait_for_event("connection allowed", &dst.to_string());
    assert_eq!(line.field("rule").as_deref(), Some("loopback"), "{line:?}");
    assert_eq!(greeting.local, dst);
    assert_eq!(local.accepted().len(), 1);
}

#[test]
fn loopback_destination_not_in_policy_is_refused() {
    let local = UpstreamServer::on_host_loopback();
    let s = Scenario::start("policy-loopback-deny", allow_upstream);
    let dst = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), local.port());
    let run = python_echo("127.0.0.1", dst.port())
        .in_cgroup(s.agent.path())
        .run();
    EchoOutcome::expect_failed_with(&run, REFUSED);
    assert_denied(&s.gateway, dst, "default");
    local.assert_accepted_stays(0, "a denied loopback server must not be contacted");
}

#[test]
fn direct_connect_to_the_listener_is_refused() {
    // Even with loopback allowed on every port, the gateway's own listener is
    // not a destination: there is no original destination to relay to.
    let agent = AgentCgroup::new("policy-direct-listener");
    let gateway = Gateway::start(
        "policy-direct-listener",
        &agent,
        &[Rule::allow("loopback", &["127.0.0.1", "::1"])],
    );
    for listener in ["127.0.0.1", "::1"] {
        let run = python_echo(listener, gateway.listen_port())
            .in_cgroup(agent.path())
            .run();
        EchoOutcome::expect_failed_with(&run, REFUSED);
    }
    gateway.wait_for_log(
        "\"connection refused: no original destination\"",
        |l| l.message() == "connection refused: no original destination",
        std::time::Duration::from_secs(5),
    );
    assert!(
        !gateway
            .logs()
            .iter()
            .any(|l| l.message() == "connection allowed"),
        "the gateway relayed a connection to itself\n{}",
        gateway.dump()
    );
}
