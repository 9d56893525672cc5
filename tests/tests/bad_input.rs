//! Start-up errors: the gateway exits non-zero, says what is wrong, and
//! leaves nothing attached (no pin dir; an agent in the cgroup still
//! connects directly).

use std::fmt::Write as _;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::time::Duration;

use gateway_tests::cgroup::AgentCgroup;
use gateway_tests::client::{Run, TimedCommand};
use gateway_tests::gateway::GatewayFiles;
use gateway_tests::gateway::config::Rule;
use gateway_tests::preflight::require_root_and_gateway;
use gateway_tests::tcp_clients::{EchoOutcome, python_echo};
use gateway_tests::upstream::UpstreamServer;

fn loopback_rules() -> Vec<Rule> {
    vec![Rule::allow("loopback", &["127.0.0.1"])]
}

/// Runs `gateway run` (optionally through a wrapper such as setpriv) and
/// asserts a prompt, non-zero exit with no pin dir left.
fn run_expecting_failure(files: &GatewayFiles, wrapper: &[&str]) -> Run {
    let bin = require_root_and_gateway();
    let mut command = match wrapper.split_first() {
        Some((program, args)) => TimedCommand::new(program).args(args).arg(&bin),
        None => TimedCommand::new(&bin),
    };
    command = command
        .args(["run", "--config"])
        .arg(&files.config)
        .args(["--log-format", "json"])
        .timeout(Duration::from_secs(30));
    let run = command.run();
    assert!(
        !run.timed_out && run.code.is_some_and(|c| c != 0),
        "expected the gateway to exit with an error: {run:#?}"
    );
    assert!(
        !files.pin_dir.exists(),
        "a failed start left {} behind: {run:#?}",
        files.pin_dir.display()
    );
    run
}

fn assert_stderr_mentions(run: &Run, needles: &[&str]) {
    let stderr = run.stderr.to_lowercase();
    for needle in needles {
        assert!(
            stderr.contains(&needle.to_lowercase()),
            "stderr should mention {needle:?}: {run:#?}"
        );
    }
}

/// Nothing attached: an agent in the cgroup reaches a loopback server directly.
fn assert_agent_goes_direct(agent: &Path) {
    let local = UpstreamServer::on_host_loopback();
    let run = python_echo("127.0.0.1", local.port())
        .in_cgroup(agent)
        .run();
    let (outcome, greeting) = EchoOutcome::expect_relayed(&run);
    assert_eq!(
        Some(greeting.peer),
        outcome.sockname,
        "after a failed start the agent must still connect directly"
    );
}

#[test]
fn missing_cgroup_is_rejected() {
    let missing = format!("/{}", gateway_tests::unique::name("bad-no-such-cgroup"));
    let files = GatewayFiles::write_for_cgroup("bad-no-cgroup", &missing, &loopback_rules());
    let run = run_expecting_failure(&files, &[]);
    assert_stderr_mentions(&run, &[&missing]);
}

#[test]
fn unparsable_policy_is_rejected_with_its_line() {
    let agent = AgentCgroup::new("bad-policy");
    let files = GatewayFiles::write("bad-policy", &agent, &loopback_rules());
    std::fs::write(
        &files.policy,
        "[[rules]]\nname = \"x\"\naction = \"allow\"\nhosts = [\"127.0.0.1\"\nports = [80]\n",
    )
    .expect("writing the broken policy");
    let run = run_expecting_failure(&files, &[]);
    assert_stderr_mentions(&run, &["policy.toml", "line 5"]);
    assert_agent_goes_direct(agent.path());
}

#[test]
fn policy_with_unknown_action_is_rejected_with_its_line() {
    let agent = AgentCgroup::new("bad-action");
    let files = GatewayFiles::write("bad-action", &agent, &loopback_rules());
    std::fs::write(
        &files.policy,
        "[[rules]]\nname = \"x\"\naction = \"maybe\"\nhosts = [\"127.0.0.1\"]\n",
    )
    .expect("writing the broken policy");
    let run = run_expecting_failure(&files, &[]);
    assert_stderr_mentions(&run, &["policy.toml", "line 3", "maybe"]);
    assert_agent_goes_direct(agent.path());
}

#[test]
fn unparsable_config_is_rejected_with_its_line() {
    let agent = AgentCgroup::new("bad-config");
    let files = GatewayFiles::write("bad-config", &agent, &loopback_rules());
    let good = std::fs::read_to_string(&files.config).expect("reading config");
    let broken = good.replacen("[[agents]]", "[[agents]]\nname = = \"twice\"", 1);
    let line = broken
        .lines()
        .position(|l| l.contains("= ="))
        .expect("broken line")
        + 1;
    std::fs::write(&files.config, broken).expect("writing the broken config");
    let run = run_expecting_failure(&files, &[]);
    assert_stderr_mentions(&run, &["gateway.toml", &format!("line {line}")]);
    assert_agent_goes_direct(agent.path());
}

#[test]
fn listen_port_already_taken_is_rejected() {
    let agent = AgentCgroup::new("bad-port");
    let files = GatewayFiles::write("bad-port", &agent, &loopback_rules());
    let _taken = TcpListener::bind((Ipv4Addr::LOCALHOST, files.listen_port))
        .expect("binding the port first");
    let run = run_expecting_failure(&files, &[]);
    assert_stderr_mentions(&run, &[&files.listen_port.to_string()]);
    let stderr = run.stderr.to_lowercase();
    assert!(
        stderr.contains("in use") || stderr.contains("taken"),
        "stderr should say the port is in use: {run:#?}"
    );
    assert_agent_goes_direct(agent.path());
}

#[test]
fn nested_agent_cgroups_are_rejected() {
    let outer = AgentCgroup::new("bad-nested");
    outer.create_child("inner");
    let files = GatewayFiles::write("bad-nested", &outer, &loopback_rules());
    let mut config = std::fs::read_to_string(&files.config).expect("reading config");
    let _ = write!(
        config,
        "\n[[agents]]\nname = \"inner\"\ncgroup = \"{}/inner\"\npolicy = \"policy.toml\"\n",
        outer.relative()
    );
    std::fs::write(&files.config, config).expect("writing the config");
    let run = run_expecting_failure(&files, &[]);
    assert_stderr_mentions(&run, &["nest"]);
    assert_agent_goes_direct(outer.path());
}

#[test]
fn non_root_is_rejected() {
    let agent = AgentCgroup::new("bad-nonroot");
    let files = GatewayFiles::write("bad-nonroot", &agent, &loopback_rules());
    let run = run_expecting_failure(
        &files,
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ],
    );
    assert_stderr_mentions(&run, &["root"]);
    assert_agent_goes_direct(agent.path());
}

#[test]
fn a_bad_worker_count_is_rejected() {
    let agent = AgentCgroup::new("bad-workers");
    let files = GatewayFiles::write("bad-workers", &agent, &loopback_rules());
    for value in ["0", "two"] {
        let setting = format!("GATEWAY_WORKERS={value}");
        let run = run_expecting_failure(&files, &["env", &setting]);
        assert_stderr_mentions(&run, &[&setting.replace('=', "=\""), "at least 1"]);
    }
    assert_agent_goes_direct(agent.path());
}
