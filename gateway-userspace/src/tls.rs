//! TLS interception: the gateway's certificate authority, the leaf
//! certificates it mints per server name, and the upstream client config.
//!
//! One crypto provider everywhere: ring, passed explicitly to every config,
//! so that nothing depends on a process-wide default being installed.

mod ca;
mod leaf;
mod upstream;

#[cfg(test)]
mod tests;

use std::{path::PathBuf, sync::Arc};

use rustls::crypto::CryptoProvider;

pub use self::ca::CertificateAuthority;
pub use self::{
    ca::CaError,
    leaf::{LeafCerts, server_config, server_config_for_ip},
    upstream::client_config,
};

/// Where `gateway ca init` keeps the authority by default.
pub const DEFAULT_CA_DIR: &str = "/var/lib/gateway/ca";

/// ALPN protocols offered to agents and to upstreams, in preference order.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

fn alpn_protocols() -> Vec<Vec<u8>> {
    ALPN.iter().map(|p| p.to_vec()).collect()
}

/// The only crypto provider the gateway uses (never aws-lc).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading upstream CA file {}: {source}", .path.display())]
    ReadUpstreamCa {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("upstream CA file {}: {source}", .path.display())]
    ParseUpstreamCa {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("upstream CA file {} holds no PEM certificate", .path.display())]
    EmptyUpstreamCa { path: PathBuf },
    #[error("upstream CA file {}: certificate {index} cannot be a trust anchor: {source}", .path.display())]
    BadUpstreamCa {
        path: PathBuf,
        /// Position in the file, from 1.
        index: usize,
        source: rustls::Error,
    },
    #[error("cannot mint a certificate for {name:?}: neither a DNS name nor an IP address")]
    InvalidName { name: String },
    #[error("minting a certificate for {name} (CA {}): {source}", .ca.display())]
    Mint {
        name: String,
        ca: PathBuf,
        source: rcgen::Error,
    },
    #[error("generating the leaf certificate key: {0}")]
    LeafKey(String),
    #[error("setting up TLS session tickets: {0}")]
    Ticketer(rustls::Error),
    #[error("the system random number generator failed")]
    Random,
}
