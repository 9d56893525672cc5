//! Name resolution for upstream connections. The gateway resolves names
//! itself (from TLS SNI or the HTTP Host header) and never connects to an
//! address an agent picked for a name.
//!
//! Sources, in order: a static map from the configuration, then DNS
//! through the configured name servers, or the host's resolv.conf when
//! none are configured and there is no static map.

use std::{
    collections::HashMap,
    future::Future,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use hickory_resolver::{
    TokioResolver,
    config::{NameServerConfig, ResolverConfig},
    net::runtime::TokioRuntimeProvider,
};
use hyper_util::client::legacy::connect::dns::Name;

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("setting up the DNS resolver: {0}")]
    Setup(String),
    #[error("resolving {name}: {message}")]
    Lookup { name: String, message: String },
    #[error(
        "resolving {name}: not in the gateway's static host map, and no name server is configured"
    )]
    NotInStaticMap { name: String },
}

/// Resolver settings, from the `[resolver]` table of the configuration.
#[derive(Debug, Clone, Default)]
pub struct ResolverSettings {
    /// DNS servers (`ip:port`); empty means resolv.conf, unless `hosts`
    /// is set, in which case only `hosts` is used.
    pub nameservers: Vec<SocketAddr>,
    /// Fixed answers, by lowercase name.
    pub hosts: HashMap<String, Vec<IpAddr>>,
}

#[derive(Clone)]
pub struct Resolver {
    hosts: Arc<HashMap<String, Vec<IpAddr>>>,
    dns: Option<TokioResolver>,
}

impl Resolver {
    pub fn new(settings: &ResolverSettings) -> Result<Self, ResolveError> {
        let dns = if !settings.nameservers.is_empty() {
            let servers = settings
                .nameservers
                .iter()
                .map(|addr| {
                    let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                    for connection in &mut server.connections {
                        connection.port = addr.port();
                    }
                    server
                })
                .collect();
            let config = ResolverConfig::from_name_servers(servers);
            Some(
                TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
                    .build()
                    .map_err(|e| ResolveError::Setup(e.to_string()))?,
            )
        } else if settings.hosts.is_empty() {
            Some(
                TokioResolver::builder_tokio()
                    .map_err(|e| ResolveError::Setup(e.to_string()))?
                    .build()
                    .map_err(|e| ResolveError::Setup(e.to_string()))?,
            )
        } else {
            None
        };
        Ok(Self {
            hosts: Arc::new(settings.hosts.clone()),
            dns,
        })
    }

    /// The addresses of `name` (an IP literal resolves to itself).
    pub async fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, ResolveError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Ok(ip) = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return Ok(vec![ip]);
        }
        if let Some(ips) = self.hosts.get(&name) {
            return Ok(ips.clone());
        }
        let Some(dns) = &self.dns else {
            return Err(ResolveError::NotInStaticMap { name });
        };
        // A trailing dot makes the name absolute: no search domains.
        let lookup = dns
            .lookup_ip(format!("{name}."))
            .await
            .map_err(|e| ResolveError::Lookup {
                name: name.clone(),
                message: e.to_string(),
            })?;
        let ips: Vec<IpAddr> = lookup.iter().collect();
        if ips.is_empty() {
            return Err(ResolveError::Lookup {
                name,
                message: "no addresses".into(),
            });
        }
        Ok(ips)
    }
}

/// The resolver as hyper's connector wants it.
impl tower_service::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = ResolveError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let resolver = self.clone();
        Box::pin(async move {
            let ips = resolver.resolve(name.as_str()).await?;
            // hyper's connector fills in the port from the URI.
            Ok(ips
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 0))
                .collect::<Vec<_>>()
                .into_iter())
        })
    }
}
