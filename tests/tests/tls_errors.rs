//! What the gateway refuses on the TLS side, with a JSON answer the agent
//! can read: a Host / :authority that does not match the SNI (domain
//! fronting), an upstream whose certificate does not verify, and an
//! upstream that cannot be reached.

use gateway_tests::gateway::config::Rule;
use gateway_tests::https_scenario::{API_HOST, HttpsScenario, OTHER_HOST};
use gateway_tests::https_upstream::HttpsUpstream;
use gateway_tests::test_ca::TestCa;

/// Everything on the upstream names, any port, any request.
fn allow_all_names() -> Vec<Rule> {
    vec![Rule::allow(
        "test-names",
        &[API_HOST, OTHER_HOST, "*.test.example"],
    )]
}

#[test]
fn host_header_not_matching_sni_is_misdirected() {
    let s = HttpsScenario::start("tls-misdirected", &allow_all_names());
    for flag in ["--http1.1", "--http2"] {
        let url = HttpsScenario::url(API_HOST, "/fronted");
        let run = s
            .agents
            .curl(&url)
            .args([flag, "-H", &format!("Host: {OTHER_HOST}")])
            .arg(&url)
            .in_cgroup(s.agent.path())
            .run();
        let reply = s.curl_reply(&run);
        let refusal = reply.expect_refusal(421, "misdirected");
        assert!(
            refusal.message.contains(OTHER_HOST) || refusal.message.contains(API_HOST),
            "the message should name the mismatch: {refusal:#?}"
        );
    }
    s.upstream
        .assert_no_request_to("/fronted", "a fronted request must not be forwarded");
}

#[test]
fn upstream_certificate_from_an_untrusted_ca_is_refused() {
    let s = HttpsScenario::start("tls-untrusted-ca", &allow_all_names());
    let stranger = TestCa::new("a CA nobody trusts");
    let bad = HttpsUpstream::builder(stranger.issue(&[API_HOST]))
        .port(8443)
        .start_in(s.topo.upstream_ns());
    let refusal = s
        .get(&format!("https://{API_HOST}:8443/secret"))
        .expect_refusal(502, "upstream_certificate");
    assert!(
        refusal.message.to_lowercase().contains("certificate"),
        "{refusal:#?}"
    );
    assert!(
        !bad.connections().is_empty(),
        "the gateway should have tried the upstream's TLS"
    );
    bad.assert_no_request_to("/secret", "nothing may be sent to an unverified upstream");
}

#[test]
fn upstream_certificate_for_another_name_is_refused() {
    let s = HttpsScenario::start("tls-wrong-name", &allow_all_names());
    let wrong = HttpsUpstream::builder(s.test_ca.issue(&["someone-else.test.example"]))
        .port(9443)
        .start_in(s.topo.upstream_ns());
    let url = format!("https://{API_HOST}:9443/secret");
    let run = s
        .agents
        .curl(&url)
        .args(["--http2"])
        .arg(&url)
        .in_cgroup(s.agent.path())
        .run();
    s.curl_reply(&run)
        .expect_refusal(502, "upstream_certificate");
    wrong.assert_no_request_to("/secret", "nothing may be sent to an unverified upstream");
}

#[test]
fn unreachable_upstream_is_a_502() {
    let s = HttpsScenario::start("tls-unreachable", &allow_all_names());
    // Nothing listens on 7443 in the upstream namespace.
    let url = format!("https://{API_HOST}:7443/nobody");
    let run = s
        .agents
        .curl(&url)
        .arg(&url)
        .in_cgroup(s.agent.path())
        .run();
    s.curl_reply(&run).expect_refusal(502, "upstream_error");
}
