//! Connections from the agent cgroup go through the gateway, whatever the
//! client and address family; connections from elsewhere do not.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use gateway_tests::cgroup::AgentCgroup;
use gateway_tests::gateway::{AGENT_NAME, LogLine};
use gateway_tests::scenario::{Scenario, allow_upstream};
use gateway_tests::tcp_clients::{
    EchoOutcome, Greeting, curl_get, http_url, node_echo, python_echo,
};

/// The "connection allowed" line names the agent and the rule, and its
/// client is the agent socket on the loopback listener.
fn assert_allowed_line(line: &LogLine) {
    assert_eq!(line.field("agent").as_deref(), Some(AGENT_NAME), "{line:?}");
    assert_eq!(line.field("rule").as_deref(), Some("upstream"), "{line:?}");
    let client: SocketAddr = line
        .field("client")
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("client field is not IP:PORT: {line:?}"));
    assert!(
        client.ip().to_canonical().is_loopback(),
        "the agent should reach the gateway on its loopback listener: {line:?}"
    );
}

/// Plain HTTP is intercepted: the gateway logs the request (method, host,
/// path) instead of the connection. The rule is the upstream's, and the
/// agent is ours.
fn assert_http_request_allowed(s: &Scenario, dst: SocketAddr) {
    let line = s
        .gateway
        .wait_for_request("request allowed", "GET", &dst.ip().to_string(), "/");
    assert_eq!(line.field("rule").as_deref(), Some("upstream"), "{line:?}");
}

#[test]
fn curl_ipv4_from_agent_cgroup_is_relayed_from_host_namespace() {
    let s = Scenario::start("redirect-curl-v4", allow_upstream);
    let dst = s.upstream_v4();
    let run = curl_get(&http_url(dst.ip(), dst.port()))
        .in_cgroup(s.agent.path())
        .run();
    let greeting = Greeting::expect_in(&run);
    assert_http_request_allowed(&s, dst);
    assert_eq!(
        greeting.peer.ip(),
        s.host_side(dst),
        "the gateway connects from the host namespace"
    );
    assert_eq!(greeting.local, dst, "to the original destination");
    assert_eq!(s.upstream.accepted().len(), 1);
}

#[test]
fn python_ipv6_destination_is_relayed() {
    let s = Scenario::start("redirect-py-v6", allow_upstream);
    let dst = s.upstream_v6();
    let run = python_echo(&dst.ip().to_string(), dst.port())
        .in_cgroup(s.agent.path())
        .run();
    let (_, greeting) = EchoOutcome::expect_relayed(&run);
    let line = s.gateway.wait_for_event(
        "connection allowed",
        &format!("[{}]:{}", dst.ip(), dst.port()),
    );
    assert_allowed_line(&line);
    assert_eq!(greeting.peer.ip(), s.host_side(dst));
    assert_eq!(greeting.local, dst);
}

#[test]
fn python_v4_mapped_destination_is_relayed_and_logged_as_ipv4() {
    let s = Scenario::start("redirect-py-mapped", allow_upstream);
    let dst = s.upstream_v4();
    let mapped = format!("::ffff:{}", dst.ip());
    let run = python_echo(&mapped, dst.port())
        .in_cgroup(s.agent.path())
        .run();
    let (_, greeting) = EchoOutcome::expect_relayed(&run);
    let line = s
        .gateway
        .wait_for_event("connection allowed", &dst.to_string());
    assert_eq!(line.field("rule").as_deref(), Some("upstream"), "{line:?}");
    assert_eq!(greeting.peer.ip(), s.host_side(dst));
    assert_eq!(greeting.local, dst);
}

#[test]
fn node_client_is_relayed() {
    let s = Scenario::start("redirect-node", allow_upstream);
    let dst = s.upstream_v4();
    let run = node_echo(&dst.ip().to_string(), dst.port())
        .in_cgroup(s.agent.path())
        .run();
    let (_, greeting) = EchoOutcome::expect_relayed(&run);
    let line = s
        .gateway
        .wait_for_event("connection allowed", &dst.to_string());
    assert_allowed_line(&line);
    assert_eq!(greeting.peer.ip(), s.host_side(dst));
}

#[test]
fn child_cgroup_created_after_attach_is_covered() {
    let s = Scenario::start("redirect-late-child", allow_upstream);
    let late = s.agent.create_child("late/deeper");
    let dst = s.upstream_v4();
    let run = python_echo(&dst.ip().to_string(), dst.port())
        .in_cgroup(&late)
        .run();
    EchoOutcome::expect_relayed(&run);
    let line = s
        .gateway
        .wait_for_event("connection allowed", &dst.to_string());
    assert_allowed_line(&line);
}

#[test]
fn processes_outside_the_agent_cgroup_connect_directly() {
    let s = Scenario::start("redirect-outside", allow_upstream);
    let dst = s.upstream_v4();
    let other = AgentCgroup::new("redirect-outside-other");
    let from_other = python_echo(&dst.ip().to_string(), dst.port())
        .in_cgroup(other.path())
        .run();
    let from_test_process = python_echo(&dst.ip().to_string(), dst.port()).run();
    for run in [&from_other, &from_test_process] {
        let (outcome, greeting) = EchoOutcome::expect_relayed(run);
        assert_eq!(
            Some(greeting.peer),
            outcome.sockname,
            "the upstream's peer is the client's own socket: a direct connection"
        );
    }
    assert_eq!(s.upstream.accepted().len(), 2);
    s.gateway.assert_no_log_mentioning(
        &dst.to_string(),
        "connections from outside the agent cgroup are none of the gateway's business",
    );
}

#[test]
fn agent_in_own_netns_is_relayed_through_listener_in_that_netns() {
    let s = Scenario::start_with_agent_netns("redirect-agent-netns", allow_upstream);
    let dst = s.upstream_v4();
    let run = curl_get(&http_url(dst.ip(), dst.port()))
        .in_cgroup(s.agent.path())
        .in_netns(s.topo.agent_ns())
        .run();
    let greeting = Greeting::expect_in(&run);
    s.gateway.wait_for_log(
        "\"netns listener opened\"",
        |l| l.message() == "netns listener opened",
        Duration::from_secs(5),
    );
    assert_http_request_allowed(&s, dst);
    assert_eq!(
        greeting.peer.ip(),
        IpAddr::V4(s.topo.host_v4()),
        "the gateway relays from the host namespace, not the agent's"
    );
    assert_eq!(greeting.local, dst, "to the original destination");
}
