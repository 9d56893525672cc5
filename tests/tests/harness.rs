//! Checks of the harness itself, without the gateway: the topology, the
//! upstream server, the cgroup guard and the client runner. They need root
//! (namespaces, cgroups) but not `GATEWAY_BIN`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use gateway_tests::cgroup::AgentCgroup;
use gateway_tests::client::TimedCommand;
use gateway_tests::preflight::require_root;
use gateway_tests::tcp_clients::{EchoOutcome, Greeting, curl_get, http_url, python_echo};
use gateway_tests::topology::Topology;
use gateway_tests::upstream::UpstreamServer;

#[test]
fn upstream_in_netns_answers_ipv4_from_host_veth_address() {
    require_root();
    let topo = Topology::new();
    let upstream = UpstreamServer::in_netns(topo.upstream_ns());
    let run = python_echo(&topo.upstream_v4().to_string(), upstream.port()).run();
    let (outcome, greeting) = EchoOutcome::expect_relayed(&run);
    assert_eq!(greeting.peer.ip(), topo.host_v4());
    assert_eq!(Some(greeting.peer), outcome.sockname, "direct connection");
    assert_eq!(
        greeting.local,
        SocketAddr::new(topo.upstream_v4().into(), upstream.port())
    );
    assert_eq!(upstream.accepted().len(), 1);
}

#[test]
fn upstream_in_netns_answers_ipv6_and_http() {
    require_root();
    let topo = Topology::new();
    let upstream = UpstreamServer::in_netns(topo.upstream_ns());
    let run = curl_get(&http_url(topo.upstream_v6().into(), upstream.port())).run();
    let greeting = Greeting::expect_in(&run);
    assert_eq!(greeting.peer.ip(), topo.host_v6());
    let seen = upstream.wait_for_accepted(1, Duration::from_secs(2));
    assert_eq!(seen[0].peer, greeting.peer);
}

#[test]
fn agent_netns_has_only_loopback_and_no_route() {
    require_root();
    let topo = Topology::with_agent_netns();
    assert_eq!(topo.agent_ns().links(), vec!["lo".to_owned()]);
    let upstream = UpstreamServer::in_netns(topo.upstream_ns());
    let run = python_echo(&topo.upstream_v4().to_string(), upstream.port())
        .in_netns(topo.agent_ns())
        .run();
    let outcome = EchoOutcome::expect_failed_with(&run, &["OSError"]);
    assert!(
        run.stdout.contains("unreachable"),
        "expected a local 'Network is unreachable': {outcome:?} {run:#?}"
    );
    upstream.assert_accepted_stays(0, "nothing can leave the agent namespace");
}

#[test]
fn client_runs_inside_the_cgroup() {
    require_root();
    let cgroup = AgentCgroup::new("harness-cgroup");
    let run = TimedCommand::new("cat")
        .arg("/proc/self/cgroup")
        .in_cgroup(cgroup.path())
        .run()
        .expect_success("cat /proc/self/cgroup");
    assert!(
        run.stdout.contains(&format!("0::{}\n", cgroup.relative())),
        "{run:#?}"
    );
}

#[test]
fn cgroup_guard_kills_members_and_removes_children() {
    require_root();
    let cgroup = AgentCgroup::new("harness-guard");
    let child = cgroup.create_child("late/deeper");
    let path = cgroup.path().to_path_buf();
    let sleeper = std::thread::spawn(move || {
        TimedCommand::new("sleep")
            .arg("30")
            .in_cgroup(&child)
            .timeout(Duration::from_secs(40))
            .run()
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cgroup.descendants().len(), 2);
    drop(cgroup);
    let run = sleeper.join().expect("sleeper thread");
    assert!(run.elapsed < Duration::from_secs(20), "{run:#?}");
    assert!(
        !Path::new(&path).exists(),
        "{} still exists",
        path.display()
    );
}

#[test]
fn timed_command_kills_on_timeout() {
    let run = TimedCommand::new("sleep")
        .arg("10")
        .timeout(Duration::from_millis(200))
        .run();
    assert!(run.timed_out && run.code.is_none(), "{run:#?}");
}
