//! `gateway exec`: a one-shot gateway around one command. Plain HTTP is
//! intercepted, so curl's requests are decided (and logged) one by one, and
//! a denied one gets the gateway's 403 (curl `--fail-with-body` turns it
//! into a failing exit code).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use gateway_tests::cgroup::cgroup2_mount;
use gateway_tests::client::{Run, TimedCommand};
use gateway_tests::gateway::config::{PLACEHOLDER_HOST, Rule, policy_toml};
use gateway_tests::preflight::require_root_and_gateway;
use gateway_tests::scenario::allow_upstream;
use gateway_tests::tcp_clients::{Greeting, http_url};
use gateway_tests::tempdir::TempDir;
use gateway_tests::topology::Topology;
use gateway_tests::upstream::UpstreamServer;

/// `--resolve` with a name no test uses: a static map, so exec never
/// falls back to the system resolver.
fn placeholder_resolve() -> String {
    format!("{PLACEHOLDER_HOST}=127.0.0.1")
}

/// `gateway exec --policy FILE --log-format json --resolve … -- COMMAND...`
fn gateway_exec(policy: &[Rule], command: &[&str]) -> Run {
    let bin = require_root_and_gateway();
    let dir = TempDir::new("exec");
    let policy = dir.write("policy.toml", &policy_toml(policy));
    TimedCommand::new(bin)
        .args(["exec", "--log-format", "json", "--policy"])
        .env("GATEWAY_LOG", gateway_tests::gateway::LOG_FILTER)
        .arg(policy)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--resolve")
        .arg(placeholder_resolve())
        .arg("--")
        .args(command)
        .timeout(Duration::from_secs(30))
        .run()
}

/// The shell prefix that prints the command's cgroup before running curl.
fn curl_script(url: &str) -> String {
    format!(
        "cat /proc/self/cgroup && exec curl -sS -g --fail-with-body --noproxy '*' --max-time 10 {url}"
    )
}

/// The exec cgroup the command reported (`0::/gateway-exec-<pid>`), which
/// must be gone once exec has returned.
fn assert_exec_cgroup_removed(run: &Run) {
    let cgroup = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or_else(|| panic!("command did not print its cgroup: {run:#?}"));
    assert!(
        cgroup.starts_with("/gateway-exec-"),
        "the command should run in a gateway-exec-<pid> cgroup, ran in {cgroup}: {run:#?}"
    );
    let dir: PathBuf = cgroup2_mount().join(cgroup.trim_start_matches('/'));
    assert!(
        !dir.exists(),
        "gateway exec left its cgroup {} behind",
        dir.display()
    );
}

#[test]
fn exec_relays_an_allowed_destination() {
    let topo = Topology::new();
    let upstream = UpstreamServer::in_netns(topo.upstream_ns());
    let dst = SocketAddr::new(topo.upstream_v4().into(), upstream.port());
    let run = gateway_exec(
        &allow_upstream(&topo, upstream.port()),
        &["sh", "-c", &curl_script(&http_url(dst.ip(), dst.port()))],
    );
    let greeting = Greeting::expect_in(&run);
    assert_eq!(greeting.peer.ip(), topo.host_addr(dst.ip()));
    assert!(
        run.stderr.lines().any(|l| l.contains("\"request allowed\"")
            && l.contains(&format!("\"host\":\"{}\"", dst.ip()))),
        "exec's log should show the allowed request to {dst}: {run:#?}"
    );
    assert_eq!(greeting.local, dst, "to the original destination");
    assert_eq!(upstream.accepted().len(), 1);
    assert_exec_cgroup_removed(&run);
}

#[test]
fn exec_refuses_a_denied_destination() {
    let topo = Topology::new();
    let upstream = UpstreamServer::in_netns(topo.upstream_ns());
    let other = UpstreamServer::in_netns(topo.upstream_ns());
    let dst = SocketAddr::new(topo.upstream_v4().into(), other.port());
    let run = gateway_exec(
        &allow_upstream(&topo, upstream.port()),
        &["sh", "-c", &curl_script(&http_url(dst.ip(), dst.port()))],
    );
    assert!(
        run.code.is_some_and(|c| c != 0)
            && Greeting::find(&run.stdout).is_none()
            && run.stdout.contains("\"error\":\"denied\""),
        "curl to a denied destination must get the gateway's 403 and fail, \
         and exec must return its failure: {run:#?}"
    );
    assert!(
        run.stderr.lines().any(|l| l.contains("\"request denied\"")
            && l.contains(&format!("\"host\":\"{}\"", dst.ip()))),
        "exec's log should show the denied request to {dst}: {run:#?}"
    );
    other.assert_accepted_stays(0, "a denied destination must not be contacted");
    assert_exec_cgroup_removed(&run);
}

#[test]
fn exec_denies_everything_without_a_policy() {
    let bin = require_root_and_gateway();
    let local = UpstreamServer::on_host_loopback();
    let dir = TempDir::new("exec-nopolicy");
    let run = TimedCommand::new(bin)
        .arg("exec")
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--resolve")
        .arg(placeholder_resolve())
        .arg("--")
        .args([
            "curl",
            "-sS",
            "--fail-with-body",
            "--noproxy",
            "*",
            "--max-time",
            "10",
        ])
        .arg(http_url(std::net::Ipv4Addr::LOCALHOST.into(), local.port()))
        .timeout(Duration::from_secs(30))
        .run();
    assert!(
        run.code.is_some_and(|c| c != 0) && Greeting::find(&run.stdout).is_none(),
        "without --policy every connection is denied: {run:#?}"
    );
    local.assert_accepted_stays(0, "a denied destination must not be contacted");
}

#[test]
fn exec_returns_the_command_exit_code() {
    let run = gateway_exec(&[], &["sh", "-c", "exit 7"]);
    assert_eq!(run.code, Some(7), "{run:#?}");
}
