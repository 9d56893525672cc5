//! The HTTPS upstream of `bench https` (child side): hyper over rustls
//! (ring), HTTP/1.1 and HTTP/2 by ALPN (or HTTP/1.1 only), on 127.0.0.1,
//! a tokio runtime with one worker per CPU.
//!
//! - `GET /hello`: 64 bytes;
//! - `GET /download?bytes=N`: N bytes made on the fly from one shared
//!   buffer, with a Content-Length (never held whole);
//! - anything else: 404.
//!
//! It prints its port as the first line of standard output and serves
//! until its standard input closes (the benchmark dropping it, or dying).

use std::convert::Infallible;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{Context as _, Result};
use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsAcceptor;

/// The small response.
pub const HELLO: &[u8; 64] = b"hello from the bench upstream; 64 bytes of body, no more no less";
/// Download bodies are sent in slices of this one buffer.
const CHUNK: usize = 256 * 1024;
const BACKLOG: u32 = 4096;

type ResponseBody = Either<Full<Bytes>, Download>;

pub fn run(cert: &Path, key: &Path, http1_only: bool) -> Result<()> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .with_context(|| format!("reading {}", cert.display()))?;
    let key =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading {}", key.display()))?;
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .context("the upstream's certificate")?;
    config.alpn_protocols = if http1_only {
        vec![b"http/1.1".to_vec()]
    } else {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    };
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let chunk = Bytes::from(vec![b'x'; CHUNK]);

    // One worker per CPU, set explicitly: TOKIO_WORKER_THREADS in the
    // environment (an experiment on the gateway's runtime) must not
    // change the upstream.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
        .enable_all()
        .build()
        .context("starting the upstream's runtime")?;
    runtime.block_on(async move {
        let socket = TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        let listener = socket.listen(BACKLOG)?;
        let port = listener.local_addr()?.port();
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{port}")?;
        stdout.flush()?;
        drop(stdout);
        std::thread::spawn(|| {
            // EOF (or an error) on standard input: the benchmark is done.
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            std::process::exit(0);
        });
        loop {
            match listener.accept().await {
                Ok((tcp, _)) => {
                    tokio::spawn(serve(tcp, acceptor.clone(), chunk.clone()));
                }
                // Out of descriptors and the like: do not spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
    })
}

async fn serve(tcp: TcpStream, acceptor: TlsAcceptor, chunk: Bytes) {
    let _ = tcp.set_nodelay(true);
    let Ok(tls) = acceptor.accept(tcp).await else {
        return;
    };
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let io = TokioIo::new(tls);
    let service = service_fn(move |request| {
        let chunk = chunk.clone();
        async move { Ok::<_, Infallible>(route(&request, chunk)) }
    });
    // Errors are the client's business (a reset, a client gone early).
    let _ = if h2 {
        hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(io, service)
            .await
    } else {
        hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service)
            .await
    };
}

fn route(request: &Request<Incoming>, chunk: Bytes) -> Response<ResponseBody> {
    let full = |status, body: &'static [u8]| {
        let mut response = Response::new(Either::Left(Full::new(Bytes::from_static(body))));
        *response.status_mut() = status;
        response
    };
    if request.method() != Method::GET {
        return full(StatusCode::METHOD_NOT_ALLOWED, b"GET only\n");
    }
    match request.uri().path() {
        "/hello" => full(StatusCode::OK, HELLO),
        "/download" => match download_size(request.uri().query()) {
            Some(remaining) => Response::new(Either::Right(Download { remaining, chunk })),
            None => full(StatusCode::BAD_REQUEST, b"/download?bytes=N\n"),
        },
        _ => full(StatusCode::NOT_FOUND, b"not found\n"),
    }
}

fn download_size(query: Option<&str>) -> Option<u64> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("bytes="))?
        .parse()
        .ok()
}

/// A body of `remaining` bytes, sent as slices of one shared buffer.
pub struct Download {
    remaining: u64,
    chunk: Bytes,
}

impl Body for Download {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n =
            usize::try_from(self.remaining).map_or(self.chunk.len(), |r| r.min(self.chunk.len()));
        self.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..n)))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_sizes() {
        assert_eq!(download_size(Some("bytes=42")), Some(42));
        assert_eq!(download_size(Some("x=1&bytes=7")), Some(7));
        assert_eq!(download_size(Some("bytes=x")), None);
        assert_eq!(download_size(None), None);
    }
}
