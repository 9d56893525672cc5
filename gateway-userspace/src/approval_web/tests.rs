//! In-process tests of the web page's server side over a [`MemoryDesk`]:
//! token, cookie, CSRF, Host check, the API and the live events. The page
//! in a real browser is tested in `tests/tests/approval_web.rs`.

use std::{fmt::Write as _, os::unix::fs::PermissionsExt as _, path::PathBuf, time::Duration};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{memory_desk::MemoryDesk, *};
use crate::approvals::desk::{ApprovalStatus, ApprovalView, Verdict};

pub fn approval(id: &str, path: &str) -> ApprovalView {
    ApprovalView {
        id: id.into(),
        agent: "coder".into(),
        method: "POST".into(),
        scheme: "https".into(),
        host: "api.test.example".into(),
        port: 443,
        path_and_query: path.into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body_preview: "{\"title\":\"x\"}".into(),
        body_len: 13,
        body_sha256: "ab".repeat(32),
        rule: "issues-write".into(),
        reason: "creating issues needs a person".into(),
        status: ApprovalStatus::Pending,
        created_unix_ms: 1_700_000_000_000,
        expires_unix_ms: 1_700_000_600_000,
        decided_by: None,
        decided_via: None,
        decision_reason: None,
    }
}

struct Fixture {
    desk: Arc<MemoryDesk>,
    web: RunningWeb,
    token: WebToken,
    dir: PathBuf,
}

impl Fixture {
    fn start(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("gw-web-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let desk = Arc::new(MemoryDesk::default());
        desk.add(approval("a1", "/repos/o/r/issues"));
        let token_path = dir.join(TOKEN_FILE);
        let web = serve(Arc::clone(&desk) as Arc<dyn ApprovalDesk>, 0, &token_path).unwrap();
        let token = WebToken::load(&token_path).unwrap();
        Self {
            desk,
            web,
            token,
            dir,
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.web.addr.port())
    }

    fn cookie(&self) -> String {
        format!(
            "gateway_approvals_{}={}",
            self.web.addr.port(),
            self.token.as_str()
        )
    }

    /// One request on its own connection; `headers` may replace Host.
    async fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
            let _ = write!(head, "Host: {}\r\n", self.host());
        }
        for (name, value) in headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        let _ = write!(head, "Content-Length: {}\r\n\r\n{body}", body.len());
        let mut stream = tokio::net::TcpStream::connect(self.web.addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).await.unwrap();
        Reply::parse(&raw)
    }

    async fn authed(&self, method: &str, path: &str, extra: &[(&str, &str)], body: &str) -> Reply {
        let cookie = self.cookie();
        let mut headers = vec![("Cookie", cookie.as_str())];
        headers.extend_from_slice(extra);
        self.call(method, path, &headers, body).await
    }

    async fn decide(&self, id: &str, verdict: &str, body: &str) -> Reply {
        let csrf = self.token.csrf();
        let origin = format!("http://{}", self.host());
        let path = format!("/api/approvals/{id}/{verdict}");
        self.authed(
            "POST",
            &path,
            &[("X-Gateway-Csrf", &csrf), ("Origin", &origin)],
            body,
        )
        .await
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn parse(raw: &str) -> Self {
        let (head, body) = raw.split_once("\r\n\r\n").expect("a full HTTP response");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        Self {
            status,
            head: head.to_ascii_lowercase(),
            body: body.to_owned(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

#[tokio::test]
async fn token_is_made_once_root_only_and_kept() {
    let f = Fixture::start("token");
    let path = f.dir.join(TOKEN_FILE);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(f.token.as_str().len(), 64);
    let again = WebToken::load_or_create(&path).unwrap();
    assert_eq!(
        again.as_str(),
        f.token.as_str(),
        "an existing token is kept"
    );
}

#[tokio::test]
async fn without_the_cookie_everything_is_401_with_directions() {
    let f = Fixture::start("no-cookie");
    let page = f.call("GET", "/", &[], "").await;
    assert_eq!(page.status, 401);
    assert!(page.body.contains("gateway approvals web-url"), "{page:?}");
    let api = f.call("GET", "/api/approvals?pending=1", &[], "").await;
    assert_eq!(api.status, 401);
    assert_eq!(api.json()["error"], "unauthorized");
    let wrong = f
        .call("GET", "/", &[("Cookie", "gateway_approvals_1=00")], "")
        .await;
    assert_eq!(wrong.status, 401);
    let bad_link = f
        .call("GET", &format!("/?token={}", "0".repeat(64)), &[], "")
        .await;
    assert_eq!(bad_link.status, 401);
}

#[tokio::test]
async fn the_token_link_sets_a_strict_http_only_cookie() {
    let f = Fixture::start("link");
    let reply = f
        .call("GET", &format!("/?token={}", f.token.as_str()), &[], "")
        .await;
    assert_eq!(reply.status, 303, "{reply:?}");
    assert_eq!(reply.header("location"), Some("/"));
    let cookie = reply.header("set-cookie").unwrap();
    assert!(
        cookie.starts_with(&f.cookie().to_ascii_lowercase()),
        "{cookie}"
    );
    assert!(
        cookie.contains("httponly") && cookie.contains("samesite=strict"),
        "{cookie}"
    );
    let page = f.authed("GET", "/", &[], "").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&f.token.csrf()),
        "the page carries its CSRF value"
    );
    assert!(page.body.contains("src=\"/app.js\""));
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert_eq!(page.header("x-frame-options"), Some("deny"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let js = f.authed("GET", "/app.js", &[], "").await;
    assert_eq!(
        (js.status, js.header("content-type")),
        (200, Some("text/javascript; charset=utf-8"))
    );
}

#[tokio::test]
async fn a_foreign_host_header_is_refused_even_with_the_cookie() {
    // DNS rebinding: a site whose name now points at 127.0.0.1.
    let f = Fixture::start("host");
    let port = f.web.addr.port();
    for host in [
        format!("evil.example:{port}"),
        "127.0.0.1:1".into(),
        "127.0.0.1".into(),
    ] {
        let reply = f
            .authed("GET", "/api/approvals", &[("Host", &host)], "")
            .await;
        assert_eq!(reply.status, 403, "{host}: {reply:?}");
        assert_eq!(reply.json()["error"], "wrong_host");
    }
    let local = f
        .authed(
            "GET",
            "/api/approvals",
            &[("Host", &format!("localhost:{port}"))],
            "",
        )
        .await;
    assert_eq!(local.status, 200);
}

#[tokio::test]
async fn lists_and_shows_approvals() {
    let f = Fixture::start("list");
    f.desk.add(approval("a2", "/second"));
    f.desk
        .decide("a1", Verdict::Deny, "someone", "cli", None)
        .unwrap();
    let pending = f
        .authed("GET", "/api/approvals?pending=1", &[], "")
        .await
        .json();
    let ids: Vec<&str> = pending
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a2"]);
    let all = f.authed("GET", "/api/approvals", &[], "").await.json();
    assert_eq!(all.as_array().unwrap().len(), 2);
    let one = f.authed("GET", "/api/approvals/a2", &[], "").await;
    assert_eq!(
        (one.status, one.json()["path_and_query"].as_str()),
        (200, Some("/second"))
    );
    assert_eq!(
        f.authed("GET", "/api/approvals/nope", &[], "").await.status,
        404
    );
    assert_eq!(
        f.authed("GET", "/api/approvals/a%20b", &[], "")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn approve_and_deny_are_recorded_with_the_web_channel() {
    let f = Fixture::start("decide");
    f.desk.add(approval("a2", "/second"));
    let approved = f.decide("a1", "approve", "").await;
    assert_eq!(approved.status, 200, "{approved:?}");
    let a1 = f.desk.show("a1").unwrap();
    assert_eq!(a1.status, ApprovalStatus::Approved);
    assert_eq!(
        (a1.decided_by.as_deref(), a1.decided_via.as_deref()),
        (Some("web page"), Some("web"))
    );
    let denied = f
        .decide(
            "a2",
            "deny",
            r#"{"by":"Ada\u0007","reason":"not this repo"}"#,
        )
        .await;
    assert_eq!(denied.status, 200, "{denied:?}");
    let a2 = f.desk.show("a2").unwrap();
    assert_eq!(a2.status, ApprovalStatus::Denied);
    assert_eq!(
        a2.decided_by.as_deref(),
        Some("Ada"),
        "control characters dropped"
    );
    assert_eq!(a2.decision_reason.as_deref(), Some("not this repo"));
    let again = f.decide("a1", "deny", "").await;
    assert_eq!(
        (again.status, again.json()["error"].as_str()),
        (409, Some("already_decided"))
    );
    assert_eq!(f.decide("a9", "approve", "").await.status, 404);
    assert_eq!(f.decide("a1", "maybe", "").await.status, 404);
}

#[tokio::test]
async fn a_decision_without_csrf_or_from_another_origin_is_refused() {
    let f = Fixture::start("csrf");
    let csrf = f.token.csrf();
    let path = "/api/approvals/a1/approve";
    let missing = f.authed("POST", path, &[], "").await;
    assert_eq!(
        (missing.status, missing.json()["error"].as_str()),
        (403, Some("cross_site"))
    );
    let wrong = f
        .authed("POST", path, &[("X-Gateway-Csrf", "00")], "")
        .await;
    assert_eq!(wrong.status, 403);
    let foreign = f
        .authed(
            "POST",
            path,
            &[("X-Gateway-Csrf", &csrf), ("Origin", "http://evil.example")],
            "",
        )
        .await;
    assert_eq!(foreign.status, 403);
    let no_cookie = f.call("POST", path, &[("X-Gateway-Csrf", &csrf)], "").await;
    assert_eq!(no_cookie.status, 401);
    assert_eq!(
        f.desk.show("a1").unwrap().status,
        ApprovalStatus::Pending,
        "nothing was decided"
    );
}

#[tokio::test]
async fn live_events_announce_new_and_changed_approvals() {
    let f = Fixture::start("events");
    let mut stream = tokio::net::TcpStream::connect(f.web.addr).await.unwrap();
    let head = format!(
        "GET /api/events HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\n\r\n",
        f.host(),
        f.cookie()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut seen = String::new();
    let mut read_until = async |needle: &str| {
        let mut buf = [0u8; 4096];
        tokio::time::timeout(Duration::from_secs(5), async {
            while !seen.contains(needle) {
                let n = stream.read(&mut buf).await.unwrap();
                assert!(n > 0, "event stream ended: {seen}");
                seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {needle:?} in {seen}"));
        seen.clone()
    };
    let start = read_until("retry: 2000").await;
    assert!(
        start
            .to_ascii_lowercase()
            .contains("content-type: text/event-stream"),
        "{start}"
    );
    f.desk.add(approval("live-1", "/</script><img src=x>"));
    let created = read_until("\"id\":\"live-1\"").await;
    assert!(created.contains("event: created\ndata: {"), "{created}");
    f.desk
        .decide("live-1", Verdict::Approve, "x", "cli", None)
        .unwrap();
    let changed = read_until("\"status\":\"approved\"").await;
    assert!(changed.contains("event: changed\ndata: {"), "{changed}");
}

#[test]
fn error_pages_escape_their_text() {
    let page = response::escape_html("<img src=x onerror=\"alert('1')\">&");
    assert_eq!(
        page,
        "&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt;&amp;"
    );
}

#[test]
fn the_page_puts_text_in_the_dom_only_as_text() {
    // Agent-controlled strings must never reach an HTML parser.
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!assets::APP_JS.contains(sink), "app.js uses {sink}");
    }
}

#[tokio::test]
async fn stopping_the_page_ends_its_live_streams() {
    let f = Fixture::start("stop");
    let mut stream = tokio::net::TcpStream::connect(f.web.addr).await.unwrap();
    let head = format!(
        "GET /api/events HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\n\r\n",
        f.host(),
        f.cookie()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("200 OK"));
    drop(f);
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the event stream outlived the page");
}
