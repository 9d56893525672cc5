//! `gateway ca init` and `gateway ca export`: the CA agents trust.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use gateway_tests::client::TimedCommand;
use gateway_tests::gateway_ca::{GatewayCa, ca_command};
use gateway_tests::tempdir::TempDir;

#[test]
fn init_creates_a_p256_ca_with_a_private_key() {
    let dir = TempDir::new("ca-init");
    let ca = GatewayCa::init(&dir.path().join("ca"));
    let mode = std::fs::metadata(ca.key())
        .expect("ca.key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "ca.key must be readable by root only");
    let text = TimedCommand::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(ca.cert())
        .timeout(Duration::from_secs(10))
        .run()
        .expect_success("openssl x509");
    assert!(
        text.stdout.contains("CA:TRUE"),
        "ca.pem must be a CA: {text:#?}"
    );
    assert!(
        text.stdout.contains("prime256v1") || text.stdout.contains("P-256"),
        "ECDSA P-256: {text:#?}"
    );
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let dir = TempDir::new("ca-force");
    let ca = GatewayCa::init(&dir.path().join("ca"));
    let cert = std::fs::read(ca.cert()).expect("ca.pem");
    let key = std::fs::read(ca.key()).expect("ca.key");

    let again = ca_command(&["init", "--dir"], ca.dir());
    assert!(
        !again.success() && again.code.is_some(),
        "a second init must fail: {again:#?}"
    );
    assert!(
        format!("{}{}", again.stdout, again.stderr).contains("--force"),
        "the refusal should mention --force: {again:#?}"
    );
    assert_eq!(
        std::fs::read(ca.cert()).expect("ca.pem"),
        cert,
        "ca.pem kept"
    );
    assert_eq!(std::fs::read(ca.key()).expect("ca.key"), key, "ca.key kept");

    let _ = ca_command(&["init", "--force", "--dir"], ca.dir()).expect_success("init --force");
    assert_ne!(std::fs::read(ca.cert()).expect("ca.pem"), cert, "a new CA");
    let mode = std::fs::metadata(ca.key())
        .expect("ca.key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the new key is private too");
}

#[test]
fn export_prints_the_certificate() {
    let dir = TempDir::new("ca-export");
    let ca = GatewayCa::init(&dir.path().join("ca"));
    let run = ca_command(&["export", "--dir"], ca.dir()).expect_success("ca export");
    let pem = std::fs::read_to_string(ca.cert()).expect("ca.pem");
    assert_eq!(run.stdout.trim(), pem.trim());
    assert!(
        !run.stdout.contains("PRIVATE KEY"),
        "export never prints the key"
    );
}
