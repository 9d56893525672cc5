use bytes::Bytes;
use http::{Request, header, request::Parts};
use http_body_util::BodyExt as _;

use super::*;
use crate::vault::{
    AgentScope, Binding, Entry, Position, SealedRecord, SecretValue, VaultFile, VaultKey,
    store::VaultStore, vault_path,
};

/// A request, its body, who sends it where, and the expected block.
type Case = (Parts, Option<Vec<u8>>, Target, Reason, Place);

const SECRET: &str = "real-secret-VALUE-42";

struct Fixture {
    credentials: Credentials,
    key: VaultKey,
    dir: std::path::PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A vault in a temp dir with `TOKEN` bound to `position` on
/// api.example.com for agent `a`, opened for agents `a` and `b`.
fn fixture(tag: &str, position: Position) -> Fixture {
    let dir = std::env::temp_dir().join(format!("gw-cred-unit-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let key = VaultKey::load_or_create(&dir).expect("key");
    let binding = Binding {
        hosts: vec!["api.example.com".into()],
        position,
        agents: AgentScope::Only(vec!["a".into()]),
    }
    .validated()
    .unwrap();
    let value =
        SecretValue::from_input(zeroize::Zeroizing::new(SECRET.as_bytes().to_vec())).unwrap();
    let record = SealedRecord::seal(&key, "TOKEN", &binding, &value).unwrap();
    VaultFile {
        entries: vec![Entry::Sealed(record)],
    }
    .write(&vault_path(&dir))
    .unwrap();
    let store = VaultStore::open(dir.clone(), vec!["a".into(), "b".into()]).unwrap();
    Fixture {
        credentials: Credentials::new(store, temporary_audit_log()),
        key,
        dir,
    }
}

impl Fixture {
    fn placeholder(&self, agent: &str) -> String {
        crate::vault::Placeholder::derive(&self.key, agent, "TOKEN").to_string()
    }
}

fn target(agent: &str, host: &str) -> Target {
    Target {
        agent: agent.into(),
        host: host.into(),
        tls: true,
        request_id: "t-1".into(),
    }
}

fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut builder = Request::builder().uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).unwrap().into_parts().0
}

fn bearer() -> Position {
    Position::Header {
        name: "authorization".into(),
        format: "Bearer {}".into(),
    }
}

#[test]
fn a_bound_header_gets_the_secret() {
    let f = fixture("header", bearer());
    let ph = f.placeholder("a");
    let mut p = parts("/v1", &[("authorization", &format!("Bearer {ph}"))]);
    let injected = f
        .credentials
        .inject(&mut p, None, &target("a", "api.example.com"))
        .unwrap();
    assert!(!injected.is_empty());
    let value = &p.headers[header::AUTHORIZATION];
    assert_eq!(value.to_str().unwrap(), format!("Bearer {SECRET}"));
    assert!(value.is_sensitive());
    assert_eq!(p.headers[header::ACCEPT_ENCODING], "identity");
    assert!(!format!("{injected:?}").contains(SECRET));
}

#[test]
fn query_path_and_basic_auth_positions() {
    let f = fixture("query", Position::Query { key: "key".into() });
    let ph = f.placeholder("a");
    let mut p = parts(&format!("/v1?a=1&key={ph}&b=2"), &[]);
    f.credentials
        .inject(&mut p, None, &target("a", "api.example.com"))
        .unwrap();
    assert_eq!(
        p.uri.query(),
        Some(format!("a=1&key={SECRET}&b=2").as_str())
    );

    let f = fixture(
        "path",
        Position::Path {
            template: "/bot{}/".into(),
        },
    );
    let ph = f.placeholder("a");
    let mut p = parts(&format!("/bot{ph}/getMe?x=1"), &[]);
    f.credentials
        .inject(&mut p, None, &target("a", "api.example.com"))
        .unwrap();
    assert_eq!(p.uri.path(), format!("/bot{SECRET}/getMe"));
    assert_eq!(p.uri.query(), Some("x=1"));

    let f = fixture("basic", Position::BasicAuth { user: "me".into() });
    let ph = f.placeholder("a");
    let encoded = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("me:{ph}"),
    );
    let mut p = parts("/", &[("authorization", &format!("Basic {encoded}"))]);
    f.credentials
        .inject(&mut p, None, &target("a", "api.example.com"))
        .unwrap();
    let (user, password) =
        scan::basic_credentials(p.headers[header::AUTHORIZATION].as_bytes()).unwrap();
    assert_eq!((user.as_str(), password.as_str()), ("me", SECRET));
}

#[test]
fn placeholders_elsewhere_are_blocked() {
    let f = fixture("blocked", bearer());
    let ph = f.placeholder("a");
    let auth = format!("Bearer {ph}");
    let cases: Vec<Case> = vec![
        (
            parts("/", &[("authorization", &auth)]),
            None,
            target("a", "paste.example.net"),
            Reason::UnboundHost,
            Place::Header {
                name: "authorization".into(),
            },
        ),
        (
            parts(&format!("/?q={ph}"), &[]),
            None,
            target("a", "api.example.com"),
            Reason::UnboundPosition,
            Place::Query { key: "q".into() },
        ),
        (
            parts("/", &[("x-token", &ph)]),
            None,
            target("a", "api.example.com"),
            Reason::UnboundPosition,
            Place::Header {
                name: "x-token".into(),
            },
        ),
        (
            parts("/", &[("authorization", &format!("Token {ph}"))]),
            None,
            target("a", "api.example.com"),
            Reason::UnboundPosition,
            Place::Header {
                name: "authorization".into(),
            },
        ),
        (
            parts("/", &[]),
            Some(format!("{{\"k\":\"{ph}\"}}").into_bytes()),
            target("a", "api.example.com"),
            Reason::UnboundPosition,
            Place::Body,
        ),
        (
            parts("/", &[("authorization", &auth)]),
            None,
            target("b", "api.example.com"),
            Reason::OtherAgent("a".into()),
            Place::Header {
                name: "authorization".into(),
            },
        ),
        (
            parts(
                "/",
                &[(
                    "authorization",
                    "Bearer gwph-00000000000000000000000000000000",
                )],
            ),
            None,
            target("a", "api.example.com"),
            Reason::Unknown,
            Place::Header {
                name: "authorization".into(),
            },
        ),
        (
            parts("/", &[("authorization", &auth)]),
            None,
            Target {
                tls: false,
                ..target("a", "api.example.com")
            },
            Reason::PlainHttp,
            Place::Header {
                name: "authorization".into(),
            },
        ),
    ];
    for (mut p, body, t, reason, place) in cases {
        let attempt = f
            .credentials
            .inject(&mut p, body.as_deref(), &t)
            .unwrap_err();
        assert_eq!(
            (&attempt.reason, &attempt.place),
            (&reason, &place),
            "{attempt:?}"
        );
        assert!(!attempt.message().contains(SECRET));
    }
}

#[test]
fn a_request_without_placeholders_is_left_alone() {
    let f = fixture("none", bearer());
    let mut p = parts("/v1?x=1", &[("authorization", "Bearer mine")]);
    let injected = f
        .credentials
        .inject(&mut p, Some(b"body"), &target("a", "api.example.com"))
        .unwrap();
    assert!(injected.is_empty());
    assert_eq!(p.headers[header::AUTHORIZATION], "Bearer mine");
    assert!(p.headers.get(header::ACCEPT_ENCODING).is_none());
}

async fn collect(body: crate::intercept::ProxyBody) -> Result<Vec<u8>, String> {
    body.collect()
        .await
        .map(|c| c.to_bytes().to_vec())
        .map_err(|e| e.to_string())
}

/// A body that yields these frames, one per poll.
pub(super) struct Frames(pub(super) std::collections::VecDeque<http_body::Frame<Bytes>>);

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = crate::intercept::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(Ok))
    }
}

fn chunked(chunks: &[&[u8]]) -> crate::intercept::ProxyBody {
    let frames = chunks
        .iter()
        .map(|c| http_body::Frame::data(Bytes::copy_from_slice(c)));
    Frames(frames.collect()).boxed()
}

/// A Bearer secret injected for agent `a` (the fixture holds the vault):
/// what a response to that request must be redacted of, and the placeholder.
fn injected_bearer(tag: &str) -> (Fixture, String, Injected) {
    let f = fixture(tag, bearer());
    let ph = f.placeholder("a");
    let mut p = parts("/", &[("authorization", &format!("Bearer {ph}"))]);
    let injected = f
        .credentials
        .inject(&mut p, None, &target("a", "api.example.com"))
        .unwrap();
    (f, ph, injected)
}

#[tokio::test]
async fn an_echoed_secret_is_redacted_across_chunks() {
    let (_f, ph, injected) = injected_bearer("redact");
    let echo = format!("{{\"auth\":\"Bearer {SECRET}\",\"again\":\"{SECRET}\"}}");
    let (left, right) = echo.as_bytes().split_at(20);
    let response = http::Response::builder()
        .header("x-echo", format!("Bearer {SECRET}"))
        .header(header::CONTENT_LENGTH, echo.len())
        .body(chunked(&[left, right]))
        .unwrap();
    let response = injected.redact_response(response).unwrap();
    assert_eq!(
        response.headers()["x-echo"],
        format!("Bearer {ph}").as_str()
    );
    assert!(response.headers().get(header::CONTENT_LENGTH).is_none());
    let body = String::from_utf8(collect(response.into_body()).await.unwrap()).unwrap();
    assert_eq!(body, echo.replace(SECRET, &ph));
    assert_eq!(
        injected.redact_str(&format!("x {SECRET} y")),
        format!("x {ph} y")
    );
}

#[tokio::test]
async fn a_compressed_answer_to_a_secret_is_refused() {
    let (_f, _, injected) = injected_bearer("encoded");
    let response = http::Response::builder()
        .header(header::CONTENT_ENCODING, "gzip")
        .body(chunked(&[b"..."]))
        .unwrap();
    assert!(injected.redact_response(response).is_err());
}

#[tokio::test]
async fn a_placeholder_split_across_body_chunks_stops_the_body() {
    let f = fixture("guard", bearer());
    let ph = f.placeholder("a");
    let text = format!("{}{ph}{}", "a".repeat(50), "b".repeat(50));
    let (left, right) = text.as_bytes().split_at(60);
    let guarded = f
        .credentials
        .guard_body(chunked(&[left, right]), target("a", "paste.example.net"));
    let mut guarded = guarded;
    let mut passed = Vec::new();
    let mut failed = false;
    while let Some(frame) = guarded.frame().await {
        match frame {
            Ok(frame) => passed.extend_from_slice(frame.data_ref().unwrap()),
            Err(error) => {
                assert!(stopped_body(&*error));
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the body must fail");
    assert!(
        !String::from_utf8_lossy(&passed).contains(&ph),
        "the placeholder never passes whole"
    );

    let clean = "c".repeat(100);
    let body = f.credentials.guard_body(
        chunked(&[&clean.as_bytes()[..30], &clean.as_bytes()[30..]]),
        target("a", "x"),
    );
    assert_eq!(collect(body).await.unwrap(), clean.as_bytes());
}

#[tokio::test]
async fn a_placeholder_in_request_trailers_stops_the_body() {
    let f = fixture("trailers", bearer());
    let ph = f.placeholder("a");
    let with_trailer = |value: &str| {
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-signature", value.parse().unwrap());
        let frames = [
            http_body::Frame::data(Bytes::from_static(b"payload")),
            http_body::Frame::trailers(trailers),
        ];
        Frames(frames.into()).boxed()
    };

    let mut guarded = f
        .credentials
        .guard_body(with_trailer(&ph), target("a", "api.example.com"));
    let mut trailers_passed = false;
    let mut failed = false;
    while let Some(frame) = guarded.frame().await {
        match frame {
            Ok(frame) => trailers_passed |= frame.is_trailers(),
            Err(error) => {
                assert!(stopped_body(&*error));
                failed = true;
            }
        }
    }
    assert!(failed, "the body must fail");
    assert!(!trailers_passed, "the trailers never go on");

    let mut clean = f
        .credentials
        .guard_body(with_trailer("v1"), target("a", "api.example.com"));
    let mut seen = Vec::new();
    while let Some(frame) = clean.frame().await {
        let frame = frame.expect("a clean body passes");
        match frame.into_data() {
            Ok(data) => seen.push(String::from_utf8_lossy(&data).into_owned()),
            Err(frame) => seen.push(format!("{:?}", frame.into_trailers().unwrap())),
        }
    }
    assert_eq!(seen.concat(), "payload{\"x-signature\": \"v1\"}");
}

#[test]
fn an_exfiltration_is_recorded_with_the_secret_name_only() {
    let f = fixture("recorded", bearer());
    let ph = f.placeholder("a");
    let mut p = parts("/", &[("authorization", &format!("Bearer {ph}"))]);
    f.credentials
        .inject(&mut p, None, &target("a", "paste.example.net"))
        .expect_err("an unbound host");
    let audit = &f.credentials.audit;
    audit.sync_blocking();
    let mut records = Vec::new();
    audit
        .export(0, |r| {
            records.push(r.clone());
            Ok(())
        })
        .unwrap();
    let [record] = &records[..] else {
        panic!("one record: {records:?}")
    };
    let event = &record.event;
    assert_eq!(event.kind, crate::audit::AuditKind::ExfiltrationBlocked);
    assert_eq!(event.secret.as_deref(), Some("TOKEN"));
    assert_eq!(event.host.as_deref(), Some("paste.example.net"));
    assert_eq!(event.agent.as_deref(), Some("a"));
    assert_eq!(
        event.position.as_deref(),
        Some("header authorization (the secret is not bound to this host)")
    );
    let json = serde_json::to_string(record).unwrap();
    assert!(!json.contains(SECRET), "no secret value: {json}");
}

/// An audit log in a throwaway database: the tests look at what the
/// credentials code decides, the audit tests at what gets recorded.
fn temporary_audit_log() -> crate::audit::AuditLog {
    let db = sled::Config::new()
        .temporary(true)
        .open()
        .expect("a temporary sled db");
    crate::audit::AuditLog::open(&db).expect("an audit log")
}

/// One WebSocket frame as sent on the wire.
fn ws_frame(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut frame = vec![u8::from(fin) << 7 | opcode];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => frame.push(mask_bit | u8::try_from(n).unwrap()),
        n => {
            frame.push(mask_bit | 0x7e);
            frame.extend_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
        }
    }
    let mut payload = payload.to_vec();
    if let Some(key) = mask {
        frame.extend_from_slice(&key);
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    frame.extend_from_slice(&payload);
    frame
}

/// The (opcode, payload) of each unmasked, final frame in `bytes`.
fn ws_frames(mut bytes: &[u8]) -> Vec<(u8, String)> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        assert_eq!(bytes[0] & 0xf0, 0x80, "final, no RSV bits");
        assert_eq!(bytes[1] & 0x80, 0, "unmasked, as a server sends");
        let (len, start) = match bytes[1] {
            126 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            n => (usize::from(n), 2),
        };
        let payload = String::from_utf8_lossy(&bytes[start..start + len]).into_owned();
        frames.push((bytes[0] & 0x0f, payload));
        bytes = &bytes[start + len..];
    }
    frames
}

#[tokio::test]
async fn an_echoed_secret_is_redacted_in_websocket_frames() {
    let (_f, ph, injected) = injected_bearer("ws");
    let message = format!("token {SECRET} ok");
    // Split inside the secret: only the whole message shows it.
    let (first, rest) = message.as_bytes().split_at(10);
    let mut upstream = Vec::new();
    upstream.extend(ws_frame(true, 1, message.as_bytes(), None));
    upstream.extend(ws_frame(false, 2, first, None));
    upstream.extend(ws_frame(true, 9, SECRET.as_bytes(), None));
    upstream.extend(ws_frame(true, 0, rest, Some([7, 1, 2, 3])));
    upstream.extend(ws_frame(true, 8, &[3, 232], None));
    upstream.extend(ws_frame(true, 1, b"after the close", None));
    let mut agent = Vec::new();
    crate::credentials::redact_frames(&upstream[..], &mut agent, &injected)
        .await
        .unwrap();
    let redacted = format!("token {ph} ok");
    assert_eq!(
        ws_frames(&agent),
        [
            (1, redacted.clone()),
            (9, ph.clone()),
            (2, redacted),
            (8, "\u{3}\u{fffd}".to_owned()),
        ],
        "a control frame goes on between fragments; the message goes as one frame; nothing after the close"
    );
    assert!(!String::from_utf8_lossy(&agent).contains(SECRET));

    for (what, bad) in [
        ("compressed", ws_frame(true, 0x41, b"x", None)),
        ("stray continuation", ws_frame(true, 0, b"x", None)),
    ] {
        let mut agent = Vec::new();
        let result = crate::credentials::redact_frames(&bad[..], &mut agent, &injected).await;
        assert!(result.is_err(), "{what}: {result:?}");
        assert!(agent.is_empty(), "{what}: nothing goes on");
    }
}
