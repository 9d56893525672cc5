//! `gateway policy check FILE` and `gateway policy explain`: what a user
//! runs before deploying a policy. They need no root, but the whole crate
//! does (and they read the same files the gateway reads).

use std::time::Duration;

use gateway_tests::client::{Run, TimedCommand};
use gateway_tests::gateway::AGENT_NAME;
use gateway_tests::gateway::config::{GatewayOptions, Rule, config_toml, policy_toml};
use gateway_tests::preflight::require_root_and_gateway;
use gateway_tests::tempdir::TempDir;

fn gateway(args: &[&str]) -> TimedCommand {
    TimedCommand::new(require_root_and_gateway())
        .args(args)
        .timeout(Duration::from_secs(20))
}

fn output(run: &Run) -> String {
    format!("{}\n{}", run.stdout, run.stderr)
}

fn sample_rules() -> Vec<Rule> {
    vec![
        Rule::deny("no-admin", &["api.test.example"]).paths(&["/admin/**"]),
        Rule::allow("issues-read", &["api.test.example"])
            .methods(&["GET"])
            .paths(&["/repos/*/*/issues"]),
        Rule::approve("send", &["api.test.example"])
            .methods(&["POST"])
            .paths(&["/send"])
            .body_field("to", "*@elsewhere.example")
            .reason("Mail outside needs a human"),
        Rule::allow("send-internal", &["api.test.example"])
            .methods(&["POST"])
            .paths(&["/send"]),
    ]
}

#[test]
fn check_accepts_a_good_policy() {
    let dir = TempDir::new("policy-check-good");
    let file = dir.write("policy.toml", &policy_toml(&sample_rules()));
    let run = gateway(&["policy", "check"]).arg(&file).run();
    assert!(run.success(), "a valid policy passes the check: {run:#?}");
}

#[test]
fn check_rejects_a_syntax_error_with_line_and_column() {
    let dir = TempDir::new("policy-check-syntax");
    let mut text = policy_toml(&sample_rules()[..1]);
    // An unterminated array in the second rule.
    text.push_str("[[rules]]\nname = \"broken\"\nhosts = [\"a.test.example\"\n");
    let file = dir.write("policy.toml", &text);
    let run = gateway(&["policy", "check"]).arg(&file).run();
    assert!(
        !run.success() && run.code.is_some(),
        "an invalid policy fails the check: {run:#?}"
    );
    let out = output(&run).to_lowercase();
    assert!(
        out.contains("line") && out.contains("column"),
        "the error should give line and column: {run:#?}"
    );
}

#[test]
fn check_rejects_an_unknown_action_naming_its_line() {
    let dir = TempDir::new("policy-check-action");
    let text = "[[rules]]\nname = \"ok\"\naction = \"allow\"\nhosts = [\"a.test.example\"]\n\n\
                [[rules]]\nname = \"odd\"\naction = \"perhaps\"\nhosts = [\"b.test.example\"]\n";
    let file = dir.write("policy.toml", text);
    let run = gateway(&["policy", "check"]).arg(&file).run();
    assert!(!run.success(), "{run:#?}");
    let out = output(&run);
    assert!(
        out.contains("line 8") && out.to_lowercase().contains("column"),
        "the error should point at line 8 (the action): {run:#?}"
    );
    assert!(out.contains("perhaps"), "and name the bad value: {run:#?}");
}

#[test]
fn check_rejects_a_duplicate_rule_name() {
    let dir = TempDir::new("policy-check-dup");
    let rules = [
        Rule::allow("same", &["a.test.example"]),
        Rule::deny("same", &["b.test.example"]),
    ];
    let file = dir.write("policy.toml", &policy_toml(&rules));
    let run = gateway(&["policy", "check"]).arg(&file).run();
    assert!(!run.success(), "{run:#?}");
    assert!(output(&run).contains("same"), "{run:#?}");
}

/// `gateway policy explain --config C --agent agent ARGS…`
fn explain(dir: &TempDir, args: &[&str]) -> Run {
    dir.write("policy.toml", &policy_toml(&sample_rules()));
    let config = dir.write(
        "gateway.toml",
        &config_toml(
            15001,
            &dir.path().join("pins"),
            AGENT_NAME,
            "/gwtest-explain-not-attached",
            "policy.toml",
            &GatewayOptions::default(),
        ),
    );
    gateway(&["policy", "explain", "--config"])
        .arg(config)
        .args(["--agent", AGENT_NAME])
        .args(args)
        .run()
}

fn assert_explains(run: &Run, rule: &str, action: &str) {
    assert!(run.success(), "{run:#?}");
    assert!(
        run.stdout.contains(rule) && run.stdout.to_lowercase().contains(action),
        "explain should name the deciding rule {rule:?} and its action {action:?}: {run:#?}"
    );
}

#[test]
fn explain_names_the_deciding_rule() {
    let dir = TempDir::new("policy-explain");
    let run = explain(
        &dir,
        &[
            "GET",
            "https://api.test.example/repos/o/r/issues?state=open",
        ],
    );
    assert_explains(&run, "issues-read", "allow");
    let run = explain(&dir, &["GET", "https://api.test.example/admin/keys"]);
    assert_explains(&run, "no-admin", "deny");
    let run = explain(
        &dir,
        &["DELETE", "https://api.test.example/repos/o/r/issues"],
    );
    assert_explains(&run, "default", "deny");
}

#[test]
fn explain_reads_the_body_file() {
    let dir = TempDir::new("policy-explain-body");
    let outside = dir.write("outside.json", r#"{"to": "eve@elsewhere.example"}"#);
    let inside = dir.write("inside.json", r#"{"to": "bob@test.example"}"#);
    let url = "https://api.test.example/send";
    let run = explain(&dir, &["POST", url, "--body", &outside.to_string_lossy()]);
    assert_explains(&run, "send", "approve");
    let run = explain(&dir, &["POST", url, "--body", &inside.to_string_lossy()]);
    assert_explains(&run, "send-internal", "allow");
}

#[test]
fn shipped_demo_policy_and_every_pack_pass_the_check() {
    let policies = gateway_tests::preflight::repo_root().join("policies");
    let run = gateway(&["policy", "check"])
        .arg(policies.join("demo.toml"))
        .run();
    assert!(run.success(), "policies/demo.toml must pass: {run:#?}");

    let dir = TempDir::new("policy-check-packs");
    std::os::unix::fs::symlink(policies.join("packs"), dir.path().join("packs"))
        .expect("linking the shipped packs");
    let mut names: Vec<String> = std::fs::read_dir(policies.join("packs"))
        .expect("policies/packs")
        .filter_map(|e| {
            let path = e.ok()?.path();
            if path.extension()? != "toml" {
                return None;
            }
            Some(path.file_stem()?.to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    for required in [
        "anthropic",
        "aws",
        "github",
        "gmail",
        "google-calendar",
        "openai",
        "slack",
        "stripe",
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "policies/packs/{required}.toml is missing: {names:?}"
        );
    }
    let rules: Vec<String> = names
        .iter()
        .map(|name| {
            format!(
                "[[rules]]\nname = \"{name}\"\npack = \"{name}\"\nread = \"allow\"\n\
                 write = \"approve\"\nreason = \"Writes to {name} need a human\"\n"
            )
        })
        .collect();
    let policy = rules.join("\n");
    let file = dir.write("policy.toml", &policy);
    let run = gateway(&["policy", "check"]).arg(&file).run();
    assert!(
        run.success(),
        "a policy using every shipped pack must pass: {run:#?}"
    );
}
