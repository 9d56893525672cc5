//! The TLS client side: how the gateway verifies the real upstream. Always
//! verified, against the public web roots plus, optionally, the operator's
//! own CA file (private upstreams, tests). There is no way to turn
//! verification off: the gateway would then vouch, with its own CA, for a
//! server nobody checked.

use std::{path::Path, sync::Arc};

use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, pem::PemObject as _},
};

use super::TlsError;

/// Client config for upstream connections: ALPN h2 and http/1.1, TLS 1.2
/// and 1.3, ring. `extra_ca`: a PEM file of further trusted CAs.
pub fn client_config(extra_ca: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca {
        add_pem_file(&mut roots, path)?;
    }
    let mut config = ClientConfig::builder_with_provider(super::provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("the ring provider supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = super::alpn_protocols();
    Ok(Arc::new(config))
}

fn add_pem_file(roots: &mut RootCertStore, path: &Path) -> Result<(), TlsError> {
    let pem = std::fs::read(path).map_err(|source| TlsError::ReadUpstreamCa {
        path: path.to_owned(),
        source,
    })?;
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|source| TlsError::ParseUpstreamCa {
            path: path.to_owned(),
            source,
        })?;
        count += 1;
        roots.add(cert).map_err(|source| TlsError::BadUpstreamCa {
            path: path.to_owned(),
            index: count,
            source,
        })?;
    }
    if count == 0 {
        return Err(TlsError::EmptyUpstreamCa {
            path: path.to_owned(),
        });
    }
    Ok(())
}
