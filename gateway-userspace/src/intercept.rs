//! Interception of HTTP and HTTPS: the gateway terminates the agent's TLS
//! with a certificate its own CA signs for the name the agent asked for,
//! reads each request, asks the agent's policy, and sends allowed requests
//! on to the real upstream over a connection of its own.

mod answer;
mod approval;
mod body;
mod request;
mod upstream;
mod websocket;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use hyper::service::service_fn;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
};

use tokio_rustls::LazyConfigAcceptor;

pub use self::{
    body::{BoxError, ProxyBody},
    upstream::Upstream,
};
use crate::{
    addr::{ClientAddr, OriginalDstAddr},
    agent::{Agent, AgentId, Agents},
    approvals::store::ApprovalStore,
    audit::AuditLog,
    config::TlsSettings,
    credentials::Credentials,
    own_ports::OwnPorts,
    resolve::Resolver,
    tls::{
        CaError, CertificateAuthority, LeafCerts, client_config, server_config,
        server_config_for_ip,
    },
};

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Interceptor {
    /// `None` when the gateway has no CA: TLS is then handled as raw TCP.
    pub tls: Option<AgentTls>,
    pub upstream: Upstream,
    /// Placeholders swapped for secrets on the way out.
    pub credentials: Arc<Credentials>,
    pub audit: AuditLog,
    pub approvals: Arc<ApprovalStore>,
}

/// The agent-facing TLS server: certificates minted per server name.
pub struct AgentTls {
    pub leaf: Arc<LeafCerts>,
    /// For clients that send a server name (nearly all).
    pub by_name: Arc<rustls::ServerConfig>,
}

#[derive(Debug, thiserror::Error)]
pub enum InterceptError {
    #[error(transparent)]
    Ca(#[from] crate::tls::CaError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

impl Interceptor {
    /// Sets up interception from the configuration. A missing CA turns
    /// TLS interception off (with a warning); a broken one is an error.
    /// `workers`: how many connection workers share the upstream pools.
    pub fn new(
        tls: &TlsSettings,
        resolver: &Resolver,
        workers: usize,
        credentials: Arc<Credentials>,
        audit: AuditLog,
        approvals: Arc<ApprovalStore>,
        own_ports: &OwnPorts,
    ) -> Result<Self, InterceptError> {
        let agent_tls = match CertificateAuthority::load(&tls.ca_dir) {
            Ok(ca) => {
                let leaf = Arc::new(LeafCerts::new(ca)?);
                tracing::info!(ca_dir = %tls.ca_dir.display(), "TLS interception on");
                Some(AgentTls {
                    by_name: server_config(Arc::clone(&leaf)),
                    leaf,
                })
            }
            Err(CaError::ReadKey { source, .. } | CaError::ReadCert { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                tracing::warn!(
                    ca_dir = %tls.ca_dir.display(),
                    "no CA: TLS is relayed as raw TCP, decided by address and port; run `gateway ca init` to intercept it"
                );
                None
            }
            Err(error) => return Err(error.into()),
        };
        let client = client_config(tls.upstream_ca_file.as_deref())?;
        let upstream = Upstream::new(resolver, &client, workers, own_ports);
        Ok(Self {
            tls: agent_tls,
            upstream,
            credentials,
            audit,
            approvals,
        })
    }
}

/// What the handler of one request needs to know about its connection.
pub struct ConnContext {
    interceptor: Arc<Interceptor>,
    agents: Arc<Agents>,
    agent: AgentId,
    client: ClientAddr,
    dst: OriginalDstAddr,
    /// Whether the agent spoke TLS (so upstream requests use https).
    tls: bool,
    /// The TLS server name (SNI), lowercase; `None` for plain HTTP, and
    /// for TLS clients that sent none (they connected to an address).
    server_name: Option<String>,
    id: u64,
    requests: AtomicU64,
}

impl ConnContext {
    fn agent(&self) -> &Agent {
        self.agents
            .get(self.agent)
            .expect("the proxy checked the agent before intercepting")
    }

    /// `<connection>-<n>`: unique for the gateway's lifetime.
    fn next_request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        format!("{:x}-{n}", self.id)
    }
}

static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// One intercepted connection's identity, from the proxy.
pub struct Intercepted {
    pub agents: Arc<Agents>,
    pub agent: AgentId,
    pub client: ClientAddr,
    pub dst: OriginalDstAddr,
}

impl Interceptor {
    #[must_use]
    pub fn can_terminate_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub async fn serve_tls(self: &Arc<Self>, stream: TcpStream, conn: Intercepted) {
        let Some(agent_tls) = &self.tls else {
            return;
        };
        let handshake = async {
            let start =
                LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream).await?;
            // A client that names no server connected to an address: show
            // it a certificate for that address.
            let config = if start.client_hello().server_name().is_some() {
                Arc::clone(&agent_tls.by_name)
            } else {
                server_config_for_ip(Arc::clone(&agent_tls.leaf), conn.dst.0.ip())
            };
            start.into_stream(config).await
        };
        let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, handshake).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(error)) => {
                tracing::info!(client = %conn.client, dst = %conn.dst, %error, "TLS handshake with agent failed");
                return;
            }
            Err(_) => {
                tracing::info!(client = %conn.client, dst = %conn.dst, "TLS handshake with agent timed out");
                return;
            }
        };
        let server_name = tls.get_ref().1.server_name().map(request::normalise_host);
        self.serve_http(TokioIo::new(tls), conn, true, server_name)
            .await;
    }

    pub async fn serve_plain_http(self: &Arc<Self>, stream: TcpStream, conn: Intercepted) {
        self.serve_http(TokioIo::new(stream), conn, false, None)
            .await;
    }

    async fn serve_http<I>(
        self: &Arc<Self>,
        io: TokioIo<I>,
        conn: Intercepted,
        tls: bool,
        server_name: Option<String>,
    ) where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let ctx = Arc::new(ConnContext {
            interceptor: Arc::clone(self),
            agents: conn.agents,
            agent: conn.agent,
            client: conn.client,
            dst: conn.dst,
            tls,
            server_name,
            id: CONNECTIONS.fetch_add(1, Ordering::Relaxed),
            requests: AtomicU64::new(0),
        });
        let service = service_fn(move |req| request::handle(Arc::clone(&ctx), req));
        if let Err(error) = auto::Builder::new(TokioExecutor::new())
            .serve_connection_with_upgrades(io, service)
            .await
        {
            tracing::debug!(%error, "intercepted connection ended with an error");
        }
    }
}
