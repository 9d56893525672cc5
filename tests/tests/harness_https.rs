//! Checks of the interception tests' harness, without the gateway: the
//! HTTPS upstream (HTTP/1.1, HTTP/2, streaming, WebSocket, git), the test
//! CA, the clients and the DNS server. Need root (namespaces), not
//! `GATEWAY_BIN`: every client here talks to the upstream directly and
//! trusts the test CA.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use gateway_tests::dns_server::{DnsServer, QTYPE_A, QTYPE_AAAA, lookup};
use gateway_tests::git_repo::{GitRepo, README_TEXT};
use gateway_tests::https_clients::{AgentSetup, Step, WsOutcome, curl_reply, expect_replies};
use gateway_tests::https_scenario::{API_HOST, GIT_HOST, HttpsScenario, SVC_HOSTS};
use gateway_tests::https_upstream::HttpsUpstream;
use gateway_tests::preflight::require_root;
use gateway_tests::tempdir::TempDir;
use gateway_tests::test_ca::TestCa;
use gateway_tests::topology::Topology;

/// A topology, an upstream with a test-CA certificate, and clients that
/// trust the test CA and reach the upstream directly.
struct Direct {
    upstream: HttpsUpstream,
    clients: AgentSetup,
    topo: Topology,
    _git: Option<GitRepo>,
    _dir: TempDir,
}

fn direct(tag: &str, with_git: bool) -> Direct {
    require_root();
    let dir = TempDir::new(tag);
    let topo = Topology::new();
    let ca = TestCa::new("harness CA");
    let ca_file = ca.write_pem(dir.path(), "ca.pem");
    let git = with_git.then(|| GitRepo::new(&format!("{tag}-git")));
    let mut builder = HttpsUpstream::builder(ca.issue(&[API_HOST, GIT_HOST, "*.svc.test.example"]));
    if let Some(git) = &git {
        builder = builder.serve_dir("/repo.git", git.bare());
    }
    let upstream = builder.start_in(topo.upstream_ns());
    let ip = IpAddr::V4(topo.upstream_v4());
    let resolve: BTreeMap<String, IpAddr> = [API_HOST, GIT_HOST, SVC_HOSTS[0]]
        .iter()
        .map(|n| ((*n).to_owned(), ip))
        .collect();
    Direct {
        upstream,
        clients: AgentSetup {
            ca_file: Some(ca_file),
            resolve,
        },
        topo,
        _git: git,
        _dir: dir,
    }
}

#[test]
fn https_upstream_echoes_over_http1_and_http2() {
    let d = direct("harness-https-echo", false);
    let url = HttpsScenario::url(API_HOST, "/v1/items?x=1&y=two");
    for (flag, version) in [("--http1.1", "1.1"), ("--http2", "2")] {
        let run = d
            .clients
            .curl(&url)
            .args([
                flag,
                "-X",
                "POST",
                "-H",
                "X-Test: yes",
                "--data-binary",
                "hello",
            ])
            .arg(&url)
            .run();
        let reply = curl_reply(&run);
        assert_eq!(reply.http_version.as_deref(), Some(version), "{reply:#?}");
        let echo = reply.expect_echo();
        assert_eq!(echo.text("method"), "POST");
        assert_eq!(echo.text("path"), "/v1/items");
        assert_eq!(echo.text("query"), "x=1&y=two");
        assert_eq!(echo.text("body"), "hello");
        assert_eq!(echo.body_len(), 5);
        assert_eq!(echo.header("x-test").as_deref(), Some("yes"));
        assert_eq!(echo.text("sni"), API_HOST);
        assert!(echo.text("host").starts_with(API_HOST), "{echo:?}");
    }
    let conns = d.upstream.connections();
    assert_eq!(conns.len(), 2, "{conns:#?}");
    assert_eq!(conns[0].alpn.as_deref(), Some("http/1.1"));
    assert_eq!(conns[1].alpn.as_deref(), Some("h2"));
    assert_eq!(conns[0].peer.ip(), IpAddr::V4(d.topo.host_v4()));
    assert_eq!(d.upstream.requests_to("/v1/items").len(), 2);
}

#[test]
fn https_upstream_streams_downloads_and_counts_uploads() {
    let d = direct("harness-https-stream", false);
    let size: u64 = 64 * 1024 * 1024 + 7;
    let url = HttpsScenario::url(API_HOST, &format!("/download?bytes={size}"));
    let run = d
        .clients
        .curl(&url)
        .args(["-o", "/dev/null", "-w", "%{size_download}\n"])
        .arg(&url)
        .run()
        .expect_success("download");
    assert!(
        run.stdout.lines().any(|l| l.trim() == size.to_string()),
        "{run:#?}"
    );
    let tmp = TempDir::new("harness-upload");
    let file = tmp.path().join("upload.bin");
    let f = std::fs::File::create(&file).expect("upload file");
    f.set_len(size).expect("sparse file");
    let url = HttpsScenario::url(API_HOST, "/upload");
    let run = d
        .clients
        .curl(&url)
        .args(["-X", "POST", "-T"])
        .arg(&file)
        .arg(&url)
        .run();
    assert_eq!(curl_reply(&run).expect_echo().body_len(), size);
}

#[test]
fn python_node_and_git_clients_reach_the_upstream() {
    let d = direct("harness-clients", true);
    let url = HttpsScenario::url(API_HOST, "/py?lib=1");
    let mut libs = vec!["urllib", "http.client"];
    if has_python_requests() {
        libs.push("requests");
    }
    for lib in libs {
        let run = d
            .clients
            .python(lib, &[Step::new("POST", &url).body("{\"a\":1}")])
            .run();
        let reply = &expect_replies(&run, 1)[0];
        let echo = reply.expect_echo();
        assert_eq!(echo.text("body"), "{\"a\":1}", "{lib}");
    }
    let run = d
        .clients
        .node_fetch(&[Step::new("GET", &HttpsScenario::url(SVC_HOSTS[0], "/node"))])
        .run();
    let echo = expect_replies(&run, 1)[0].expect_echo();
    assert_eq!(echo.text("sni"), SVC_HOSTS[0]);

    let home = TempDir::new("harness-git-home");
    let dest = home.path().join("clone");
    let _ = d
        .clients
        .git_clone(
            &HttpsScenario::url(GIT_HOST, "/repo.git"),
            &dest,
            home.path(),
        )
        .run()
        .expect_success("git clone over dumb HTTP");
    assert_eq!(
        std::fs::read_to_string(dest.join("README")).expect("README in the clone"),
        README_TEXT
    );
}

#[test]
fn websocket_upgrade_echoes() {
    let d = direct("harness-ws", false);
    let run = d
        .clients
        .websocket(API_HOST, d.upstream.port(), "/ws/echo", "ping-42")
        .run();
    let ws = WsOutcome::parse(&run);
    assert_eq!(ws.status(), Some(101), "{run:#?}");
    assert_eq!(ws.0["accept_ok"], true, "{run:#?}");
    assert_eq!(ws.0["echo"], "ping-42", "{run:#?}");
}

#[test]
fn untrusted_certificate_is_rejected_by_clients() {
    let d = direct("harness-untrusted", false);
    let stranger = TestCa::new("stranger CA");
    let bad = HttpsUpstream::builder(stranger.issue(&[API_HOST]))
        .port(8443)
        .start_in(d.topo.upstream_ns());
    let url = format!("https://{API_HOST}:{}/", bad.port());
    let run = d.clients.curl(&url).arg(&url).run();
    assert_eq!(
        run.code,
        Some(60),
        "curl: certificate not trusted: {run:#?}"
    );
}

#[test]
fn dns_server_answers_from_its_map() {
    require_root();
    let topo = Topology::new();
    let ip = IpAddr::V4(topo.upstream_v4());
    let v6 = IpAddr::V6(topo.upstream_v6());
    let dns = DnsServer::start_in(
        topo.upstream_ns(),
        SocketAddr::new(ip, 53),
        &[(API_HOST, ip), (API_HOST, v6)],
    );
    assert_eq!(lookup(dns.addr(), API_HOST, QTYPE_A), Ok(vec![ip]));
    assert_eq!(
        lookup(dns.addr(), "API.test.example", QTYPE_AAAA),
        Ok(vec![v6])
    );
    assert_eq!(lookup(dns.addr(), "nothing.test.example", QTYPE_A), Err(3));
    assert_eq!(dns.queries().len(), 3);
}

fn has_python_requests() -> bool {
    gateway_tests::client::TimedCommand::new("python3")
        .args(["-c", "import requests"])
        .run()
        .success()
}
