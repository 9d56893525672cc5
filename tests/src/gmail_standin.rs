//! A stand-in for `gmail.googleapis.com`: HTTPS (certificate from the test
//! CA) inside a test namespace, speaking just enough of the Gmail REST API
//! for the story tests, and checking the credential as Gmail would:
//!
//! - `GET /gmail/v1/users/me/messages`: a JSON list of two messages;
//! - `POST /gmail/v1/users/me/messages/send` with `{"raw": base64url}`:
//!   `{"id": "sent-N", "threadId": …, "labelIds": ["SENT"]}`, 400 if `raw`
//!   is missing or not base64url;
//! - without `Authorization: Bearer <the real token>`: 401 UNAUTHENTICATED;
//! - any other host it is reached as (the "paste site"): 200 `{"stored":true}`.
//!
//! Every request is recorded whole: method, host, path, the Authorization
//! header and the body.

use std::net::{Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

use crate::netns::NetNs;
use crate::test_ca::ServerCert;

pub const GMAIL_HOST: &str = "gmail.googleapis.com";
pub const LIST_PATH: &str = "/gmail/v1/users/me/messages";
pub const SEND_PATH: &str = "/gmail/v1/users/me/messages/send";

/// One request the stand-in received.
#[derive(Clone, Debug)]
pub struct GmailRequest {
    pub method: String,
    pub host: Option<String>,
    pub path: String,
    pub authorization: Option<String>,
    pub body: Vec<u8>,
}

pub struct GmailStandIn {
    requests: Arc<Mutex<Vec<GmailRequest>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl GmailStandIn {
    /// Serves on `[::]:443` inside `ns`; only `Bearer {token}` is accepted.
    pub fn start_in(ns: &NetNs, cert: ServerCert, token: &str) -> Self {
        let netns = ns.open();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let tls = Arc::new(crate::https_upstream::server_config(cert));
        let expected = Arc::new(format!("Bearer {token}"));
        let thread = {
            let requests = Arc::clone(&requests);
            std::thread::spawn(move || {
                crate::netns::enter_for_this_thread(&netns);
                let bind = SocketAddr::from((Ipv6Addr::UNSPECIFIED, 443));
                let listener = std::net::TcpListener::bind(bind)
                    .unwrap_or_else(|e| panic!("Gmail stand-in bind {bind}: {e}"));
                listener.set_nonblocking(true).expect("nonblocking");
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                    ready_tx.send(()).expect("the test waits");
                    tokio::select! {
                        () = serve(listener, tls, expected, requests) => {}
                        _ = stop_rx => {}
                    }
                });
            })
        };
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the Gmail stand-in did not start");
        Self {
            requests,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn requests(&self) -> Vec<GmailRequest> {
        self.requests.lock().expect("lock").clone()
    }

    /// Requests with this method and path.
    pub fn requests_to(&self, method: &str, path: &str) -> Vec<GmailRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }

    /// Waits until `n` requests with this method and path arrived; returns the `n`th.
    pub fn wait_for(&self, method: &str, path: &str, n: usize) -> GmailRequest {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(r) = self.requests_to(method, path).into_iter().nth(n - 1) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "the Gmail stand-in saw no {n}th {method} {path}; it saw {:#?}",
                self.requests()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for GmailStandIn {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Requests = Arc<Mutex<Vec<GmailRequest>>>;

async fn serve(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    expected: Arc<String>,
    requests: Requests,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (acceptor, expected, requests) = (
            acceptor.clone(),
            Arc::clone(&expected),
            Arc::clone(&requests),
        );
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let service = service_fn(move |req| {
                let (expected, requests) = (Arc::clone(&expected), Arc::clone(&requests));
                async move { Ok::<_, std::convert::Infallible>(answer(req, &expected, &requests).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=UTF-8")
        .body(Full::new(Bytes::from(value.to_string())))
        .expect("valid response")
}

async fn answer(
    req: Request<Incoming>,
    expected: &str,
    requests: &Requests,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let text = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let host = parts
        .uri
        .authority()
        .map(ToString::to_string)
        .or_else(|| text(header::HOST));
    let seen = GmailRequest {
        method: parts.method.to_string(),
        host: host.clone(),
        path: parts.uri.path().to_owned(),
        authorization: text(header::AUTHORIZATION),
        body,
    };
    let sent = {
        let mut all = requests.lock().expect("lock");
        all.push(seen.clone());
        all.iter().filter(|r| r.path == SEND_PATH).count()
    };
    if host.as_deref() != Some(GMAIL_HOST) {
        return json(StatusCode::OK, &serde_json::json!({"stored": true}));
    }
    if seen.authorization.as_deref() != Some(expected) {
        return json(
            StatusCode::UNAUTHORIZED,
            &serde_json::json!({"error": {"code": 401, "status": "UNAUTHENTICATED",
                "message": "Request had invalid authentication credentials."}}),
        );
    }
    match (seen.method.as_str(), seen.path.as_str()) {
        ("GET", LIST_PATH) => json(
            StatusCode::OK,
            &serde_json::json!({"messages": [
                {"id": "18c1f2a3b4c5d6e7", "threadId": "18c1f2a3b4c5d6e7"},
                {"id": "18c1e0f9a8b7c6d5", "threadId": "18c1d0a1b2c3d4e5"}],
                "resultSizeEstimate": 2}),
        ),
        ("POST", SEND_PATH) => match raw_message(&seen.body) {
            Some(_) => json(
                StatusCode::OK,
                &serde_json::json!({"id": format!("sent-{sent}"),
                    "threadId": format!("thread-{sent}"), "labelIds": ["SENT"]}),
            ),
            None => json(
                StatusCode::BAD_REQUEST,
                &serde_json::json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
                    "message": "Invalid value for ByteString"}}),
            ),
        },
        _ => json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": {"code": 404, "status": "NOT_FOUND"}}),
        ),
    }
}

/// The message of a send request: `raw`, base64url (padded or not), not empty.
pub fn raw_message(body: &[u8]) -> Option<Vec<u8>> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let raw = value.get("raw")?.as_str()?.trim_end_matches('=');
    let message = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()?;
    (!message.is_empty()).then_some(message)
}
