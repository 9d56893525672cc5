//! `gateway secret` and the vault at rest: values only from standard
//! input, never shown; a wrong or missing key or a damaged record gives a
//! clear error, decrypts nothing and loses nothing; `gateway exec` hands
//! the command placeholders, and `secret env` writes an env file for
//! containers.

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use gateway_tests::cgroup::AgentCgroup;
use gateway_tests::client::{Run, TimedCommand};
use gateway_tests::gateway::GatewayFiles;
use gateway_tests::gateway::config::{GatewayOptions, Rule, policy_toml};
use gateway_tests::gateway_ca::GatewayCa;
use gateway_tests::https_scenario::API_HOST;
use gateway_tests::https_upstream::HttpsUpstream;
use gateway_tests::preflight::require_root_and_gateway;
use gateway_tests::secrets::{SecretCli, assert_no_secret_in, assert_no_secret_in_text};
use gateway_tests::tempdir::TempDir;
use gateway_tests::test_ca::TestCa;
use gateway_tests::topology::Topology;

const ONE: &str = "first-secret-value-111";
const TWO: &str = "second-secret-value-222";
const THREE: &str = "third-secret-value-333";

fn binding(header: &str) -> Vec<String> {
    ["--host", API_HOST, "--agent", "agent", "--header"]
        .iter()
        .map(|s| (*s).to_owned())
        .chain([format!("{header}: {{}}")])
        .collect()
}

/// A vault with ONE, TWO and THREE.
fn vault(tag: &str) -> (TempDir, SecretCli) {
    require_root_and_gateway();
    let dir = TempDir::new(tag);
    let cli = SecretCli::new(&dir.path().join("state"));
    for (name, value) in [("ONE", ONE), ("TWO", TWO), ("THREE", THREE)] {
        let b = binding(&format!("x-{}", name.to_ascii_lowercase()));
        let b: Vec<&str> = b.iter().map(String::as_str).collect();
        cli.set(name, &b, value);
    }
    (dir, cli)
}

fn assert_fails_with(run: &Run, needles: &[&str]) {
    assert!(!run.success(), "expected a failure: {run:#?}");
    let text = format!("{}{}", run.stdout, run.stderr);
    for needle in needles {
        assert!(
            text.contains(needle),
            "expected {needle:?} in the output: {run:#?}"
        );
    }
    for secret in [ONE, TWO, THREE] {
        assert_no_secret_in_text("the command's output", &text, secret);
    }
}

/// Name → status column of `secret list`.
fn statuses(run: &Run) -> Vec<(String, String)> {
    run.stdout
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (cols.len() == 3).then(|| (cols[0].to_owned(), cols[2].to_owned()))
        })
        .collect()
}

#[test]
fn set_reads_stdin_only_and_list_shows_no_values() {
    let (dir, cli) = vault("seccli-list");
    let list = cli.list().expect_success("secret list");
    assert_eq!(
        statuses(&list),
        [("ONE", "ok"), ("TWO", "ok"), ("THREE", "ok")].map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert!(
        list.stdout.contains(&format!(
            "hosts={API_HOST} header \"x-one: {{}}\" agents=agent"
        )),
        "{list:#?}"
    );
    for secret in [ONE, TWO, THREE] {
        assert_no_secret_in_text("secret list", &list.stdout, secret);
    }
    // A value on the command line is refused, and nothing is stored.
    let run = cli
        .command(&[
            "set",
            "FOUR",
            "--host",
            API_HOST,
            "--any-agent",
            "--query",
            "k",
            "value-on-argv-123",
        ])
        .stdin("x\n")
        .run();
    assert_fails_with(&run, &["value-on-argv-123"]);
    let run = cli.set_run(
        "FOUR",
        &["--host", API_HOST, "--any-agent", "--query", "k"],
        "",
    );
    assert_fails_with(&run, &["shorter than 8 bytes"]);
    let run = cli.set_run(
        "NOT-AN-ENV",
        &["--host", API_HOST, "--any-agent", "--query", "k"],
        "long-enough-value",
    );
    assert_fails_with(&run, &["environment variable"]);
    let run = cli.set_run(
        "FIVE",
        &["--host", API_HOST, "--query", "k"],
        "long-enough-value",
    );
    assert_fails_with(&run, &["--agent"]);
    assert_eq!(statuses(&cli.list()).len(), 3);
    // rm removes one, keeps the rest.
    let _ = cli.rm("TWO").expect_success("secret rm");
    assert_eq!(
        statuses(&cli.list())
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["ONE", "THREE"]
    );
    assert_fails_with(&cli.rm("TWO"), &["no secret named \"TWO\""]);
    // Vault and key are root-only.
    for file in ["vault.json", "vault.key"] {
        let mode = std::fs::metadata(cli.state_dir.join(file))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    for secret in [ONE, TWO, THREE] {
        assert!(assert_no_secret_in(&[dir.path()], secret) >= 2);
    }
}

#[test]
fn a_wrong_key_decrypts_nothing_and_changes_nothing() {
    let (dir, mut cli) = vault("seccli-wrongkey");
    let before = std::fs::read(cli.vault_file()).unwrap();
    let good = cli.placeholders("agent");
    cli.key_env = Some("ab".repeat(32));
    let list = cli.list();
    assert_fails_with(&list, &["3 record(s)"]);
    assert!(
        statuses(&list)
            .iter()
            .all(|(_, s)| s.contains("the vault key does not match")),
        "{list:#?}"
    );
    assert_fails_with(
        &cli.command(&["env", "--agent", "agent"]).run(),
        &["refusing to mix keys"],
    );
    let b = binding("x-four");
    let b: Vec<&str> = b.iter().map(String::as_str).collect();
    assert_fails_with(
        &cli.set_run("FOUR", &b, "fourth-secret-value"),
        &["refusing to mix keys"],
    );
    assert_eq!(
        std::fs::read(cli.vault_file()).unwrap(),
        before,
        "the vault is untouched"
    );
    // A key that is not 32 bytes is refused as such.
    cli.key_env = Some("not-a-key".into());
    assert_fails_with(&cli.list(), &["GATEWAY_VAULT_KEY", "32 bytes"]);
    // The right key still opens everything.
    cli.key_env = None;
    assert_eq!(cli.placeholders("agent"), good);
    let _ = cli.list().expect_success("secret list with the right key");
    for secret in [ONE, TWO, THREE] {
        assert_no_secret_in(&[dir.path()], secret);
    }
}

#[test]
fn a_missing_or_exposed_key_file_is_a_clear_error() {
    let (_dir, cli) = vault("seccli-nokey");
    let key = cli.state_dir.join("vault.key");
    let before = std::fs::read(cli.vault_file()).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_fails_with(&cli.list(), &["readable by group or others", "chmod 600"]);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let saved = std::fs::read(&key).unwrap();
    std::fs::remove_file(&key).unwrap();
    assert_fails_with(&cli.list(), &["no vault key", "vault.key"]);
    assert_fails_with(
        &cli.command(&["env", "--agent", "agent"]).run(),
        &["no vault key"],
    );
    let b = binding("x-four");
    let b: Vec<&str> = b.iter().map(String::as_str).collect();
    assert_fails_with(
        &cli.set_run("FOUR", &b, "fourth-secret-value"),
        &["its key is missing"],
    );
    assert!(!key.exists(), "no new key replaces a lost one");
    assert_eq!(std::fs::read(cli.vault_file()).unwrap(), before);
    // A gateway will not start on a vault it cannot open.
    let agent = AgentCgroup::new("seccli-nokey");
    let files = GatewayFiles::write_with(
        "seccli-nokey",
        agent.relative(),
        &policy_toml(&[Rule::allow("api", &[API_HOST])]),
        &GatewayOptions {
            state_dir: Some(cli.state_dir.clone()),
            ..GatewayOptions::default()
        },
    );
    let run = TimedCommand::new(require_root_and_gateway())
        .args(["run", "--config"])
        .arg(&files.config)
        .timeout(Duration::from_secs(30))
        .run();
    assert_fails_with(&run, &["opening the vault", "no vault key"]);
    // The same key as a systemd credential, and as base64 in the environment.
    let creds = TempDir::new("seccli-creds");
    std::fs::write(creds.path().join("gateway-vault-key"), &saved).unwrap();
    let _ = cli
        .command(&["list"])
        .env("CREDENTIALS_DIRECTORY", creds.path())
        .run()
        .expect_success("secret list with the key as a systemd credential");
    let hex = String::from_utf8(saved.clone()).unwrap();
    let bytes: Vec<u8> = (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex.trim()[i..i + 2], 16).unwrap())
        .collect();
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes);
    let _ = cli
        .command(&["list"])
        .env("GATEWAY_VAULT_KEY", &b64)
        .run()
        .expect_success("secret list with the key as base64 in GATEWAY_VAULT_KEY");
    assert!(!key.exists());
    std::fs::write(&key, saved).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let _ = cli
        .list()
        .expect_success("the restored key opens the vault");
}

#[test]
fn corrupted_and_swapped_records_are_reported_and_the_others_kept() {
    let (dir, cli) = vault("seccli-tamper");
    let path = cli.vault_file();
    let mut vault: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    // TWO gets ONE's ciphertext and nonce (a swap); THREE a flipped byte.
    let one = vault["records"][0].clone();
    vault["records"][1]["ciphertext"] = one["ciphertext"].clone();
    vault["records"][1]["nonce"] = one["nonce"].clone();
    let three = vault["records"][2]["ciphertext"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = if three.starts_with('A') { 'B' } else { 'A' };
    let flipped = format!("{first}{}", &three[1..]);
    vault["records"][2]["ciphertext"] = flipped.into();
    // And a record that is not a record at all.
    vault["records"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "JUNK", "cipher": 1}));
    std::fs::write(&path, serde_json::to_vec_pretty(&vault).unwrap()).unwrap();

    let list = cli.list();
    assert_fails_with(&list, &["3 record(s)"]);
    let statuses = statuses(&list);
    assert_eq!(
        statuses[0],
        ("ONE".to_owned(), "ok".to_owned()),
        "{list:#?}"
    );
    for (name, status) in &statuses[1..3] {
        assert!(
            status.contains("failed authentication"),
            "{name}: {list:#?}"
        );
    }
    assert!(
        statuses[3].0 == "JUNK" && statuses[3].1.contains("malformed"),
        "{list:#?}"
    );
    // Only ONE's placeholder is handed out.
    let phs = cli.placeholders("agent");
    assert_eq!(phs.keys().collect::<Vec<_>>(), ["ONE"]);
    // Adding a secret keeps the damaged records verbatim.
    let b = binding("x-four");
    let b: Vec<&str> = b.iter().map(String::as_str).collect();
    cli.set("FOUR", &b, "fourth-secret-value");
    let after: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for i in 0..4 {
        assert_eq!(
            after["records"][i], vault["records"][i],
            "record {i} kept as it was"
        );
    }
    assert_eq!(after["records"][4]["name"], "FOUR");
    // A vault file that is not JSON is left alone.
    std::fs::write(&path, b"{ torn").unwrap();
    assert_fails_with(
        &cli.set_run("FIVE", &b, "fifth-secret-value"),
        &["not readable as a whole", "left untouched"],
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"{ torn");
    for secret in [ONE, TWO, THREE] {
        assert_no_secret_in(&[dir.path()], secret);
    }
}

#[test]
fn exec_hands_the_command_placeholders_and_the_gateway_the_secret() {
    require_root_and_gateway();
    let dir = TempDir::new("seccli-exec");
    let topo = Topology::new();
    let test_ca = TestCa::new("secrets exec upstream CA");
    let upstream_ca = test_ca.write_pem(dir.path(), "upstream-ca.pem");
    let upstream = HttpsUpstream::builder(test_ca.issue(&[API_HOST])).start_in(topo.upstream_ns());
    let gateway_ca = GatewayCa::init(&dir.path().join("gateway-ca"));
    let policy = dir.write(
        "policy.toml",
        &policy_toml(&[Rule::allow("api", &[API_HOST])]),
    );
    let ip: IpAddr = topo.upstream_v4().into();
    let cli = SecretCli::new(&dir.path().join("state"));
    cli.set(
        "API_TOKEN",
        &[
            "--host",
            API_HOST,
            "--agent",
            "coder",
            "--header",
            "Authorization: Bearer {}",
        ],
        ONE,
    );
    let key_hex = std::fs::read_to_string(cli.state_dir.join("vault.key")).expect("the key file");
    let env_file = cli
        .command(&["env", "--agent", "coder"])
        .run()
        .expect_success("secret env");
    let ph = cli.placeholder("coder", "API_TOKEN");
    assert_eq!(
        env_file.stdout,
        format!("API_TOKEN={ph}\n"),
        "an env file for --env-file"
    );
    let script = format!(
        "echo \"token=$API_TOKEN key=${{GATEWAY_VAULT_KEY:-none}}\"; exec curl -sS --noproxy '*' --max-time 20 \
         --resolve {API_HOST}:443:{ip} -H \"Authorization: Bearer $API_TOKEN\" https://{API_HOST}/v1/exec"
    );
    let run = TimedCommand::new(require_root_and_gateway())
        .args([
            "exec",
            "--log-format",
            "json",
            "--agent",
            "coder",
            "--state-dir",
        ])
        .arg(&cli.state_dir)
        .arg("--policy")
        .arg(&policy)
        .arg("--ca-dir")
        .arg(gateway_ca.dir())
        .arg("--upstream-ca-file")
        .arg(&upstream_ca)
        .arg("--resolve")
        .arg(format!("{API_HOST}={ip}"))
        // The key given the way a service would: the command must not see it.
        .env("GATEWAY_VAULT_KEY", key_hex.trim())
        .args(["--", "sh", "-c", &script])
        .timeout(Duration::from_mins(1))
        .run();
    assert!(run.success(), "{run:#?}");
    assert!(
        run.stdout.contains(&format!("token={ph} key=none")),
        "{run:#?}"
    );
    let seen = upstream.wait_for_request("/v1/exec", Duration::from_secs(5));
    assert!(
        seen.headers
            .iter()
            .any(|(k, v)| k == "authorization" && *v == format!("Bearer {ONE}")),
        "{seen:#?}"
    );
    assert!(
        run.stdout
            .contains(&format!("\"authorization\":\"Bearer {ph}\"")),
        "the echo is redacted: {run:#?}"
    );
    assert_no_secret_in_text(
        "exec's output and log",
        &format!("{}{}", run.stdout, run.stderr),
        ONE,
    );
    assert!(
        !run.stdout.contains(key_hex.trim()) && !run.stderr.contains(key_hex.trim()),
        "{run:#?}"
    );
    assert_no_secret_in(&[dir.path()], ONE);
}
