//! The HTTPS clients of `bench https` (child side): hyper's HTTP/1.1
//! client over rustls (ring, TLS 1.3, ALPN http/1.1, no session
//! resumption, so every new connection is a full handshake), on a tokio
//! runtime. Each run prints one JSON line, a [`ClientRun`].
//!
//! The same code serves every route: straight to the upstream (from the
//! plain cgroup), to the upstream's address from the agent cgroup (the
//! kernel sends it to the gateway), or through an explicit proxy with
//! `CONNECT`. Only the CA it trusts differs.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

use self::workloads::{download, hold_idle, keep_alive, new_connections};
use super::worker::{ClientArgs, Workload};

mod workloads;

/// A peer that stops answering fails the run instead of hanging it.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// A loop gives up after this many failures in a row.
const MAX_FAILURES_IN_A_ROW: u64 = 50;

/// What one client run did. `count` is requests (keep-alive), connections
/// (new connections, idle connections) or body bytes (download).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClientRun {
    pub count: u64,
    pub failures: u64,
    pub first_failure: Option<String>,
    /// Of the measured part.
    pub elapsed_ns: u64,
    /// The port the client's first socket was connected to, as it saw it:
    /// the upstream's direct, the gateway's listener when redirected, the
    /// proxy's through mitmproxy.
    pub peer_port: u16,
    /// Requests or connections made outside the measured part (warm-up,
    /// the first connection), which the servers' CPU time includes.
    pub uncounted: u64,
    /// Download: the whole body arrived within the time allowed.
    pub complete: bool,
    /// CPU time (user and system) of the client process.
    pub cpu_ns: u64,
}

impl ClientRun {
    #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    pub fn per_second(&self) -> f64 {
        self.count as f64 * 1e9 / self.elapsed_ns.max(1) as f64
    }

    /// Everything the run did: what it measured and what it did not.
    pub fn all(&self) -> u64 {
        self.count + self.uncounted
    }
}

/// Where and how a client connects.
struct Target {
    addr: SocketAddr,
    connect: Option<SocketAddr>,
    server_name: ServerName<'static>,
    /// The Host header: the name and the upstream's port.
    host: String,
    tls: TlsConnector,
}

type Sender = SendRequest<Empty<Bytes>>;

/// One open HTTP/1.1 connection: the request side and the task driving it.
struct Connection {
    sender: Sender,
    driver: JoinHandle<()>,
}

impl Connection {
    /// Drops the request side and waits for hyper to shut the connection
    /// down (TLS `close_notify`, then FIN).
    async fn close(self) {
        drop(self.sender);
        let _ = tokio::time::timeout(IO_TIMEOUT, self.driver).await;
    }
}

impl Target {
    fn new(args: &ClientArgs) -> Result<Self> {
        let upstream_port = args.connect.unwrap_or(args.addr).port();
        Ok(Self {
            addr: args.addr,
            connect: args.connect,
            server_name: ServerName::try_from(args.server_name.clone())
                .context("the TLS server name")?,
            host: format!("{}:{upstream_port}", args.server_name),
            tls: TlsConnector::from(tls_config(&args.ca)?),
        })
    }

    /// TCP (and CONNECT), TLS, HTTP/1.1 handshake. Returns the connection
    /// and the peer port of its socket.
    async fn open(&self) -> Result<(Connection, u16)> {
        let mut tcp = TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        tcp.set_nodelay(true)?;
        let peer_port = tcp.peer_addr()?.port();
        if let Some(to) = self.connect {
            proxy_connect(&mut tcp, to).await?;
        }
        let tls = self
            .tls
            .connect(self.server_name.clone(), tcp)
            .await
            .context("TLS handshake")?;
        let (sender, connection) = http1::handshake(TokioIo::new(tls))
            .await
            .context("HTTP/1.1 handshake")?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok((Connection { sender, driver }, peer_port))
    }

    /// One GET; returns the body's length.
    async fn get(&self, sender: &mut Sender, path: &str) -> Result<u64> {
        sender.ready().await.context("connection closed")?;
        let request = Request::get(path)
            .header(header::HOST, &self.host)
            .body(Empty::new())
            .context("building a request")?;
        let response = sender.send_request(request).await.context("request")?;
        let status = response.status();
        let mut body = response.into_body();
        let mut bytes = 0;
        while let Some(frame) = body.frame().await {
            if let Some(data) = frame.context("reading the body")?.data_ref() {
                bytes += data.len() as u64;
            }
        }
        if status != StatusCode::OK {
            bail!("{path}: HTTP status {status}");
        }
        Ok(bytes)
    }
}

fn tls_config(ca: &Path) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for cert in
        CertificateDer::pem_file_iter(ca).with_context(|| format!("reading {}", ca.display()))?
    {
        roots
            .add(cert.with_context(|| format!("reading {}", ca.display()))?)
            .with_context(|| format!("trusting {}", ca.display()))?;
    }
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// `CONNECT to` on a fresh connection to an explicit proxy.
async fn proxy_connect(tcp: &mut TcpStream, to: SocketAddr) -> Result<()> {
    tcp.write_all(format!("CONNECT {to} HTTP/1.1\r\nHost: {to}\r\n\r\n").as_bytes())
        .await
        .context("sending CONNECT")?;
    let mut answer = Vec::with_capacity(256);
    let mut buffer = [0u8; 512];
    // The proxy sends nothing after its answer until the client speaks.
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tcp
            .read(&mut buffer)
            .await
            .context("reading the CONNECT answer")?;
        if n == 0 || answer.len() > 16 * 1024 {
            bail!("the proxy closed the connection or sent no end of headers");
        }
        answer.extend_from_slice(&buffer[..n]);
    }
    let status_line = String::from_utf8_lossy(&answer);
    let status_line = status_line.lines().next().unwrap_or_default();
    if status_line.split_whitespace().nth(1) != Some("200") {
        bail!("CONNECT {to}: the proxy answered {status_line:?}");
    }
    Ok(())
}

/// Child side: runs the workload and prints its result.
pub fn run(args: &ClientArgs) -> Result<()> {
    let target = Arc::new(Target::new(args)?);
    let threads = match args.workload {
        Workload::KeepAlive { threads, .. } | Workload::NewConnections { threads, .. } => threads,
        Workload::Download { .. } => 1,
        Workload::HoldIdle { .. } => 2,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .context("starting the client's runtime")?;
    let (mut run, held) = runtime.block_on(async {
        match args.workload {
            Workload::KeepAlive {
                connections,
                warmup_millis,
                millis,
                ..
            } => keep_alive(
                &target,
                connections,
                Duration::from_millis(warmup_millis),
                Duration::from_millis(millis),
            )
            .await
            .map(|run| (run, Vec::new())),
            Workload::NewConnections {
                in_flight, millis, ..
            } => new_connections(&target, in_flight, Duration::from_millis(millis))
                .await
                .map(|run| (run, Vec::new())),
            Workload::Download { bytes, max_millis } => {
                download(&target, bytes, Duration::from_millis(max_millis))
                    .await
                    .map(|run| (run, Vec::new()))
            }
            Workload::HoldIdle {
                connections,
                in_flight,
            } => hold_idle(&target, connections, in_flight).await,
        }
    })?;
    run.cpu_ns = own_cpu_ns();
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", serde_json::to_string(&run)?)?;
    stdout.flush()?;
    drop(stdout);
    if matches!(args.workload, Workload::HoldIdle { .. }) {
        // Idle until the benchmark has measured and closes our input.
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        runtime.block_on(async {
            for connection in held {
                connection.close().await;
            }
        });
    }
    Ok(())
}

/// User and system CPU of this process.
fn own_cpu_ns() -> u64 {
    // SAFETY: rusage is a plain C struct for which zeroes are valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is writable and of the type getrusage expects.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut usage) } != 0 {
        return 0;
    }
    let ns = |time: libc::timeval| {
        u64::try_from(time.tv_sec).unwrap_or(0) * 1_000_000_000
            + u64::try_from(time.tv_usec).unwrap_or(0) * 1_000
    };
    ns(usage.ru_utime) + ns(usage.ru_stime)
}
