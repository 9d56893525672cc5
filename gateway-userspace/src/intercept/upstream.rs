//! The upstream side: pooled HTTP clients, one set per connection worker,
//! resolving names with the gateway's own resolver and verifying upstream
//! certificates.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioIo},
};
use tokio::net::TcpStream;

use super::body::ProxyBody;
use crate::{own_ports::OwnPorts, resolve::Resolver};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const POOL_IDLE_TIMEOUT: Duration = Duration::from_mins(1);

type PooledClient = Client<HttpsConnector<OwnPortGuard>, ProxyBody>;

/// What the agent's request needs from the upstream connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamKind {
    /// The agent speaks HTTP/2: HTTP/2 where the upstream offers it.
    AnyVersion,
    /// The agent speaks HTTP/1.1 (or upgrades to WebSocket): HTTP/1.1,
    /// one upstream connection per agent connection in flight. Sharing one
    /// HTTP/2 connection among many HTTP/1.1 agent connections made every
    /// request wait on, and wake, that connection's task.
    Http1,
}

pub struct Upstream {
    /// Per connection worker (index `workers::current_index()`), so that
    /// a request and its upstream connection run on one thread.
    pools: Vec<Pools>,
}

struct Pools {
    /// HTTP/2 where the upstream offers it, else HTTP/1.1.
    any_version: PooledClient,
    /// HTTP/1.1 only.
    http1: PooledClient,
}

impl Upstream {
    pub fn new(
        resolver: &Resolver,
        tls: &rustls::ClientConfig,
        workers: usize,
        own_ports: &OwnPorts,
    ) -> Self {
        Self {
            pools: (0..workers.max(1))
                .map(|_| Pools::new(resolver.clone(), tls, own_ports.clone()))
                .collect(),
        }
    }

    /// Sends `request` over a pooled connection of the calling worker.
    pub async fn send(
        &self,
        request: Request<ProxyBody>,
        kind: UpstreamKind,
    ) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
        let pools = &self.pools[crate::workers::current_index() % self.pools.len()];
        match kind {
            UpstreamKind::AnyVersion => pools.any_version.request(request).await,
            UpstreamKind::Http1 => pools.http1.request(request).await,
        }
    }
}

impl Pools {
    fn new(resolver: Resolver, tls: &rustls::ClientConfig, own_ports: OwnPorts) -> Self {
        let mut inner = HttpConnector::new_with_resolver(resolver);
        inner.enforce_http(false);
        inner.set_nodelay(true);
        inner.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let http = OwnPortGuard { inner, own_ports };
        // hyper-rustls sets ALPN itself from the versions enabled below.
        let mut tls = tls.clone();
        tls.alpn_protocols.clear();
        let any_version = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls.clone())
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http.clone());
        let http1_only = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let builder = || {
            let mut builder = Client::builder(TokioExecutor::new());
            builder.pool_idle_timeout(POOL_IDLE_TIMEOUT);
            builder
        };
        Self {
            any_version: builder().build(any_version),
            http1: builder().build(http1_only),
        }
    }
}

/// The connector with one check added: a name the gateway resolved to a
/// loopback address must not lead to one of the gateway's own ports. The
/// check is on the connected peer, so it holds whatever the name resolved to.
#[derive(Clone)]
pub struct OwnPortGuard {
    inner: HttpConnector<Resolver>,
    own_ports: OwnPorts,
}

use super::body::BoxError;

impl tower_service::Service<Uri> for OwnPortGuard {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let own_ports = self.own_ports.clone();
        Box::pin(async move {
            let stream = connecting.await?;
            own_ports.check(stream.inner().peer_addr()?)?;
            Ok(stream)
        })
    }
}

/// Whether an upstream failure was the upstream's certificate failing
/// verification, which the agent is told about by name.
pub fn is_certificate_error(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return matches!(
                tls,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            );
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && is_certificate_error(inner)
        {
            return true;
        }
        cause = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;
    use crate::{intercept::body::full, resolve::ResolverSettings, tls::client_config};

    /// Answers every connection with one `200 ok`.
    async fn http_server() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            }
        });
        port
    }

    #[tokio::test]
    async fn a_name_resolving_to_an_own_port_is_refused() {
        let (page, other) = (http_server().await, http_server().await);
        let resolver = Resolver::new(&ResolverSettings {
            nameservers: Vec::new(),
            hosts: HashMap::from([(
                "page.test.example".into(),
                vec!["127.0.0.1".parse().unwrap()],
            )]),
        })
        .unwrap();
        let upstream = Upstream::new(
            &resolver,
            &client_config(None).unwrap(),
            1,
            &OwnPorts::new([page]),
        );
        let get = |port: u16| {
            Request::get(format!("http://page.test.example:{port}/"))
                .body(full(""))
                .unwrap()
        };
        let allowed = upstream
            .send(get(other), UpstreamKind::Http1)
            .await
            .unwrap();
        assert_eq!(allowed.status(), 200, "the same name on another port works");
        let error = upstream
            .send(get(page), UpstreamKind::Http1)
            .await
            .unwrap_err();
        let mut text = error.to_string();
        let mut cause = std::error::Error::source(&error);
        while let Some(c) = cause {
            text = format!("{text}: {c}");
            cause = c.source();
        }
        assert!(text.contains("the gateway's own ports"), "{text}");
    }
}
