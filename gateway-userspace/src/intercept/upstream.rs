//! The upstream side: pooled HTTP clients, one set per connection worker,
//! resolving names with the gateway's own resolver and verifying upstream
//! certificates.

use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

use super::body::ProxyBody;
use crate::resolve::Resolver;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const POOL_IDLE_TIMEOUT: Duration = Duration::from_mins(1);

type PooledClient = Client<HttpsConnector<HttpConnector<Resolver>>, ProxyBody>;

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
    pub fn new(resolver: &Resolver, tls: &rustls::ClientConfig, workers: usize) -> Self {
        Self {
            pools: (0..workers.max(1))
                .map(|_| Pools::new(resolver.clone(), tls))
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
    fn new(resolver: Resolver, tls: &rustls::ClientConfig) -> Self {
        let mut http = HttpConnector::new_with_resolver(resolver);
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
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
