//! What the HTTPS upstream answers, by path.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body::{Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use super::{Records, SeenRequest};

pub type Body = BoxBody<Bytes, Infallible>;

/// How much of a request body the echo sends back as text.
const ECHO_BODY_MAX: usize = 64 * 1024;

pub(super) struct Routes {
    pub dirs: Vec<(String, PathBuf)>,
}

pub(super) struct ConnInfo {
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub sni: Option<String>,
    pub records: Arc<Records>,
}

impl Routes {
    pub async fn handle(&self, req: Request<Incoming>, conn: &ConnInfo) -> Response<Body> {
        let host = req
            .uri()
            .authority()
            .map(ToString::to_string)
            .or_else(|| header_text(&req, header::HOST.as_str()));
        let seen = SeenRequest {
            method: req.method().to_string(),
            path: req.uri().path().to_owned(),
            query: req.uri().query().map(str::to_owned),
            host,
            version: format!("{:?}", req.version()),
            headers: req
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                .collect(),
            peer: conn.peer,
            local: conn.local,
        };
        conn.records.push_request(seen.clone());

        if req.uri().path().starts_with("/ws") && super::websocket::is_upgrade(&req) {
            return super::websocket::accept(req);
        }
        if let Some(file) = self.file_for(req.uri().path()) {
            return serve_file(&file);
        }
        if req.uri().path() == "/download" {
            let bytes = query_value(req.uri().query(), "bytes")
                .and_then(|b| b.parse().ok())
                .unwrap_or(0);
            return Response::builder()
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .header(header::CONTENT_LENGTH, bytes)
                .body(Generated::new(bytes).boxed())
                .expect("valid response");
        }
        echo(req, &seen, conn).await
    }

    /// The file for `path` below a served directory, if the prefix matches
    /// (whether or not the file exists: a missing one is a 404).
    fn file_for(&self, path: &str) -> Option<PathBuf> {
        self.dirs.iter().find_map(|(prefix, dir)| {
            let rest = path.strip_prefix(prefix.as_str())?;
            let rest = Path::new(rest.trim_start_matches('/'));
            let safe = rest.components().all(|c| matches!(c, Component::Normal(_)));
            Some(if safe {
                dir.join(rest)
            } else {
                dir.join("..forbidden..")
            })
        })
    }
}

fn header_text<B>(req: &Request<B>, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn header_text_of(seen: &SeenRequest, name: &str) -> Option<String> {
    seen.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

fn query_value<'a>(query: Option<&'a str>, key: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find_map(|(k, v)| (k == key).then_some(v))
}

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Full::new(body.into()).boxed())
        .expect("valid response")
}

fn serve_file(file: &Path) -> Response<Body> {
    match std::fs::read(file) {
        Ok(bytes) if file.is_file() => full(StatusCode::OK, "text/plain", bytes),
        _ => full(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    }
}

/// Reads the body as a stream (counting, keeping only the first bytes) and
/// answers with a JSON description of the request.
async fn echo(req: Request<Incoming>, seen: &SeenRequest, conn: &ConnInfo) -> Response<Body> {
    let mut body = req.into_body();
    let mut body_len: u64 = 0;
    let mut first = Vec::new();
    let mut body_error = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    body_len += data.len() as u64;
                    let room = ECHO_BODY_MAX.saturating_sub(first.len());
                    first.extend_from_slice(&data[..room.min(data.len())]);
                }
            }
            Err(e) => {
                body_error = Some(e.to_string());
                break;
            }
        }
    }
    let headers: serde_json::Map<String, serde_json::Value> = seen
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    let json = serde_json::json!({
        "method": seen.method,
        "path": seen.path,
        "query": seen.query,
        "host": seen.host,
        "version": seen.version,
        "headers": headers,
        "body_len": body_len,
        "body": String::from_utf8_lossy(&first),
        "body_error": body_error,
        "sni": conn.sni,
        "peer": conn.peer.to_string(),
        "local": conn.local.to_string(),
    });
    let mut text = json.to_string();
    text.push('\n');
    let mut response = full(StatusCode::OK, "application/json", text);
    // Echoed in headers too: a test can see what reached the upstream
    // there (and that the gateway redacts it).
    let uri = format!(
        "{}{}",
        seen.path,
        seen.query
            .as_ref()
            .map(|q| format!("?{q}"))
            .unwrap_or_default()
    );
    for (name, value) in [
        ("x-echo-uri", Some(uri)),
        (
            "x-echo-authorization",
            header_text_of(seen, "authorization"),
        ),
    ] {
        if let Some(value) = value.and_then(|v| http::HeaderValue::from_str(&v).ok()) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// A body of `left` bytes made chunk by chunk as the client reads.
struct Generated {
    left: u64,
    chunk: Bytes,
}

impl Generated {
    const CHUNK: usize = 64 * 1024;

    fn new(len: u64) -> Self {
        let pattern: Vec<u8> = (b'a'..=b'z').cycle().take(Self::CHUNK).collect();
        Self {
            left: len,
            chunk: Bytes::from(pattern),
        }
    }
}

impl http_body::Body for Generated {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = usize::try_from(self.left).map_or(Self::CHUNK, |left| left.min(Self::CHUNK));
        self.left -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..n)))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}
