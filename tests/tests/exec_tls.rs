//! `gateway exec` with interception: it sets the variables common clients
//! read to trust the gateway's CA, so curl and Python work unchanged, and
//! it resolves names only as told (`--resolve`).

use std::net::IpAddr;
use std::time::Duration;

use gateway_tests::client::{Run, TimedCommand};
use gateway_tests::gateway::config::{Rule, policy_toml};
use gateway_tests::gateway_ca::GatewayCa;
use gateway_tests::https_clients::{AgentSetup, Step, expect_replies};
use gateway_tests::https_scenario::{API_HOST, HttpsScenario};
use gateway_tests::https_upstream::HttpsUpstream;
use gateway_tests::preflight::require_root_and_gateway;
use gateway_tests::tempdir::TempDir;
use gateway_tests::test_ca::TestCa;
use gateway_tests::topology::Topology;

const TRUST_VARIABLES: [&str; 5] = [
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
];

struct ExecSetup {
    upstream: HttpsUpstream,
    gateway_ca: GatewayCa,
    upstream_ca: std::path::PathBuf,
    policy: std::path::PathBuf,
    ip: IpAddr,
    _topo: Topology,
    dir: TempDir,
}

fn setup(tag: &str) -> ExecSetup {
    require_root_and_gateway();
    let dir = TempDir::new(tag);
    let topo = Topology::new();
    let test_ca = TestCa::new("exec upstream CA");
    let upstream_ca = test_ca.write_pem(dir.path(), "upstream-ca.pem");
    let upstream = HttpsUpstream::builder(test_ca.issue(&[API_HOST])).start_in(topo.upstream_ns());
    let gateway_ca = GatewayCa::init(&dir.path().join("gateway-ca"));
    let policy = dir.write(
        "policy.toml",
        &policy_toml(&[Rule::allow("api-get", &[API_HOST]).methods(&["GET"])]),
    );
    ExecSetup {
        upstream,
        gateway_ca,
        upstream_ca,
        policy,
        ip: topo.upstream_v4().into(),
        _topo: topo,
        dir,
    }
}

impl ExecSetup {
    /// `gateway exec --log-format json --policy … --ca-dir … --upstream-ca-file …
    /// --resolve api.test.example=IP --` (the command follows).
    fn exec(&self) -> TimedCommand {
        TimedCommand::new(require_root_and_gateway())
            .args(["exec", "--log-format", "json", "--policy"])
            .env("GATEWAY_LOG", gateway_tests::gateway::LOG_FILTER)
            .arg(&self.policy)
            .arg("--ca-dir")
            .arg(self.gateway_ca.dir())
            .arg("--upstream-ca-file")
            .arg(&self.upstream_ca)
            .arg("--state-dir")
            .arg(self.dir.path().join("state"))
            .arg("--resolve")
            .arg(format!("{API_HOST}={}", self.ip))
            .arg("--")
            .timeout(Duration::from_mins(1))
    }
}

fn assert_exec_logged_allowed(run: &Run, path: &str) {
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains("\"request allowed\"")
                && l.contains(&format!("\"path\":\"{path}\""))),
        "exec's log should show the allowed request for {path}: {run:#?}"
    );
}

#[test]
fn exec_sets_trust_variables_for_curl() {
    let s = setup("exec-tls-curl");
    // A line of the CA's base64 that no other certificate has: the file a
    // variable names must contain it (it may be a bundle with more CAs).
    let ca_pem = std::fs::read_to_string(s.gateway_ca.cert()).expect("ca.pem");
    let marker = ca_pem.lines().nth(2).expect("a PEM body line");
    let checks: Vec<String> = TRUST_VARIABLES
        .iter()
        .map(|var| {
            format!(
                "if [ -n \"${var}\" ] && grep -qF '{marker}' \"${var}\"; \
                 then echo {var}=trusts-gateway; else echo {var}=missing; fi;"
            )
        })
        .collect();
    let script = format!(
        "{} echo \"bundle=$SSL_CERT_FILE\"; exec curl -sS --noproxy '*' --max-time 20 --resolve {API_HOST}:443:{} \
         https://{API_HOST}/v1/exec",
        checks.join(" "),
        s.ip
    );
    let run = s.exec().args(["sh", "-c", &script]).run();
    assert!(
        run.success(),
        "curl without --cacert must trust the gateway: {run:#?}"
    );
    for var in TRUST_VARIABLES {
        assert!(
            run.stdout
                .lines()
                .any(|l| l == format!("{var}=trusts-gateway")),
            "exec should set {var} to a file holding the gateway's CA: {run:#?}"
        );
    }
    let bundle = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("bundle="))
        .unwrap_or_default();
    assert!(
        !bundle.is_empty() && !std::path::Path::new(bundle).exists(),
        "exec should remove the CA file it made ({bundle}) when the command ends"
    );
    assert!(run.stdout.contains("\"path\":\"/v1/exec\""), "{run:#?}");
    assert_exec_logged_allowed(&run, "/v1/exec");
    s.upstream
        .wait_for_request("/v1/exec", Duration::from_secs(5));
}

#[test]
fn exec_sets_trust_variables_for_python() {
    let s = setup("exec-tls-python");
    let clients = AgentSetup {
        ca_file: None,
        resolve: [(API_HOST.to_owned(), s.ip)].into_iter().collect(),
    };
    let run = clients
        .python_command(
            "urllib",
            &[
                Step::new("GET", &HttpsScenario::url(API_HOST, "/v1/python-exec")),
                Step::new("POST", &HttpsScenario::url(API_HOST, "/v1/python-exec")).body("x"),
            ],
            s.exec().arg("python3"),
        )
        .run();
    let replies = expect_replies(&run, 2);
    assert_eq!(replies[0].expect_echo().text("path"), "/v1/python-exec");
    replies[1].expect_refusal(403, "denied");
    assert_exec_logged_allowed(&run, "/v1/python-exec");
    let _ = &s.dir;
}
