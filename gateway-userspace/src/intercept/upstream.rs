//! The upstream side: one pooled HTTP client per gateway, resolving names
//! with the gateway's own resolver and verifying upstream certificates.

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

#[derive(Clone)]
pub struct Upstream {
    /// HTTP/2 where the upstream offers it, else HTTP/1.1.
    client: PooledClient,
    /// HTTP/1.1 only: upgrades (WebSocket) exist only there.
    http1: PooledClient,
}

impl Upstream {
    pub fn new(resolver: Resolver, tls: &rustls::ClientConfig) -> Self {
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
            client: builder().build(any_version),
            http1: builder().build(http1_only),
        }
    }

    /// Sends `request`; `upgrade` picks the HTTP/1.1-only client.
    pub async fn send(
        &self,
        request: Request<ProxyBody>,
        upgrade: bool,
    ) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
        if upgrade {
            self.http1.request(request).await
        } else {
            self.client.request(request).await
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
