//! The HTTPS upstream the intercepted agents reach: rustls + hyper (HTTP/1.1
//! and HTTP/2 by ALPN), serving inside a test namespace.
//!
//! What it answers (see `https_upstream/routes.rs`):
//! - `GET /download?bytes=N`: N bytes made on the fly (never held whole);
//! - files below a directory given with [`HttpsUpstreamBuilder::serve_dir`]
//!   (a "dumb HTTP" git repository);
//! - a WebSocket upgrade on `/ws…`: echoes every message;
//! - anything else: a JSON echo of the request (method, path, query, host,
//!   headers, the length of the body, read as a stream, and its first bytes).
//!
//! Every connection and request is recorded, so a test can assert what the
//! upstream saw: who connected, with which SNI, and which requests came.

mod routes;
mod websocket;

use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

use crate::netns::NetNs;
use crate::test_ca::ServerCert;

/// One TLS connection the upstream accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenConnection {
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// The SNI the client sent; `None` until the handshake is done, or without SNI.
    pub sni: Option<String>,
    pub alpn: Option<String>,
}

/// One request the upstream received.
#[derive(Clone, Debug)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// The Host header (HTTP/1.1) or the `:authority` (HTTP/2).
    pub host: Option<String>,
    pub version: String,
    pub headers: Vec<(String, String)>,
    pub peer: SocketAddr,
    pub local: SocketAddr,
}

#[derive(Default)]
struct Records {
    connections: Mutex<Vec<SeenConnection>>,
    requests: Mutex<Vec<SeenRequest>>,
}

pub struct HttpsUpstreamBuilder {
    cert: ServerCert,
    port: u16,
    dirs: Vec<(String, PathBuf)>,
}

impl HttpsUpstreamBuilder {
    /// The port to listen on (default 443; 0 = any free port).
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Serves the files below `dir` at `url_prefix` (e.g. `/repo.git`).
    #[must_use]
    pub fn serve_dir(mut self, url_prefix: &str, dir: impl Into<PathBuf>) -> Self {
        self.dirs
            .push((url_prefix.trim_end_matches('/').to_owned(), dir.into()));
        self
    }

    /// Starts serving on `[::]:port` (dual stack) inside `ns`.
    pub fn start_in(self, ns: &NetNs) -> HttpsUpstream {
        let netns = ns.open();
        let records = Arc::new(Records::default());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let tls = Arc::new(server_config(self.cert));
        let routes = Arc::new(routes::Routes { dirs: self.dirs });
        let bind = SocketAddr::from((Ipv6Addr::UNSPECIFIED, self.port));
        let thread = {
            let records = Arc::clone(&records);
            std::thread::spawn(move || {
                crate::netns::enter_for_this_thread(&netns);
                let listener = std::net::TcpListener::bind(bind)
                    .unwrap_or_else(|e| panic!("HTTPS upstream bind {bind}: {e}"));
                listener.set_nonblocking(true).expect("nonblocking");
                let port = listener.local_addr().expect("local addr").port();
                // One thread: every socket it makes stays in the namespace.
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    port_tx.send(port).expect("test waits for the port");
                    tokio::select! {
                        () = accept_loop(listener, tls, routes, records) => {}
                        _ = stop_rx => {}
                    }
                });
            })
        };
        let port = port_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("HTTPS upstream did not start");
        HttpsUpstream {
            port,
            records,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

pub struct HttpsUpstream {
    port: u16,
    records: Arc<Records>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl HttpsUpstream {
    pub fn builder(cert: ServerCert) -> HttpsUpstreamBuilder {
        HttpsUpstreamBuilder {
            cert,
            port: 443,
            dirs: Vec::new(),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn connections(&self) -> Vec<SeenConnection> {
        self.records.connections.lock().expect("lock").clone()
    }

    pub fn requests(&self) -> Vec<SeenRequest> {
        self.records.requests.lock().expect("lock").clone()
    }

    /// Requests whose path is `path`.
    pub fn requests_to(&self, path: &str) -> Vec<SeenRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Waits until a request for `path` arrived; panics with all requests otherwise.
    pub fn wait_for_request(&self, path: &str, timeout: Duration) -> SeenRequest {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = self.requests_to(path).into_iter().next() {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "the HTTPS upstream on port {} saw no request for {path} within {timeout:?}; \
                 it saw {:#?}",
                self.port,
                self.requests()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Asserts that no request for `path` arrives (after a short settle time).
    pub fn assert_no_request_to(&self, path: &str, why: &str) {
        std::thread::sleep(Duration::from_millis(300));
        let seen = self.requests_to(path);
        assert!(
            seen.is_empty(),
            "{why}: the HTTPS upstream received {seen:#?}"
        );
    }

    /// Asserts that nothing connected at all (after a short settle time).
    pub fn assert_no_connection(&self, why: &str) {
        std::thread::sleep(Duration::from_millis(300));
        let seen = self.connections();
        assert!(
            seen.is_empty(),
            "{why}: the HTTPS upstream on port {} accepted {seen:#?}",
            self.port
        );
    }
}

impl Drop for HttpsUpstream {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub(crate) fn server_config(cert: ServerCert) -> rustls::ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(cert.chain, cert.key)
        .expect("server certificate and key match");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    routes: Arc<routes::Routes>,
    records: Arc<Records>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let local = stream.local_addr().expect("local addr of accepted socket");
        // As real servers do: small frames (HTTP/2 window updates) go out at once.
        let _ = stream.set_nodelay(true);
        let (peer, local) = (canonical(peer), canonical(local));
        let index = {
            let mut conns = records.connections.lock().expect("lock");
            conns.push(SeenConnection {
                peer,
                local,
                sni: None,
                alpn: None,
            });
            conns.len() - 1
        };
        let acceptor = acceptor.clone();
        let routes = Arc::clone(&routes);
        let records = Arc::clone(&records);
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let (_, session) = tls.get_ref();
            let sni = session.server_name().map(str::to_owned);
            let alpn = session
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned());
            {
                let mut conns = records.connections.lock().expect("lock");
                conns[index].sni.clone_from(&sni);
                conns[index].alpn = alpn;
            }
            let conn = Arc::new(routes::ConnInfo {
                peer,
                local,
                sni,
                records,
            });
            let service = service_fn(move |req| {
                let routes = Arc::clone(&routes);
                let conn = Arc::clone(&conn);
                async move { Ok::<_, std::convert::Infallible>(routes.handle(req, &conn).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await;
        });
    }
}

fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

impl Records {
    fn push_request(&self, request: SeenRequest) {
        self.requests.lock().expect("lock").push(request);
    }
}
