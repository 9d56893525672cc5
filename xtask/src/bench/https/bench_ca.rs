//! The benchmark's own certificate authority (rcgen, ECDSA P-256), which
//! signs the upstream's certificate for [`SERVER_NAME`]. Direct clients
//! trust it; the gateway (`upstream_ca_file`) and mitmproxy
//! (`ssl_verify_upstream_trusted_ca`) verify the upstream with it.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// The upstream's name: a reserved test name that resolves nowhere, so
/// only the gateway's static host map (and the clients' explicit
/// addresses) lead to it.
pub const SERVER_NAME: &str = "bench.test.example";

/// The PEM files the CA wrote.
pub struct BenchCaFiles {
    /// The CA's certificate.
    pub ca: PathBuf,
    /// The upstream's certificate chain (leaf, then CA).
    pub server_chain: PathBuf,
    pub server_key: PathBuf,
}

/// Makes a CA and a server certificate for [`SERVER_NAME`] and writes
/// them to `dir`.
pub fn write(dir: &Path) -> Result<BenchCaFiles> {
    let mut params = CertificateParams::new(Vec::<String>::new()).context("CA parameters")?;
    params
        .distinguished_name
        .push(DnType::CommonName, "gateway bench https CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().context("CA key")?)
        .context("self-signing the bench CA")?;

    let mut params =
        CertificateParams::new(vec![SERVER_NAME.to_owned()]).context("server parameters")?;
    params
        .distinguished_name
        .push(DnType::CommonName, SERVER_NAME);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().context("server key")?;
    let cert = params
        .signed_by(&key, &issuer)
        .context("signing the server certificate")?;

    let files = BenchCaFiles {
        ca: dir.join("bench-ca.pem"),
        server_chain: dir.join("upstream-chain.pem"),
        server_key: dir.join("upstream-key.pem"),
    };
    write_file(&files.ca, &issuer.pem())?;
    write_file(
        &files.server_chain,
        &format!("{}{}", cert.pem(), issuer.pem()),
    )?;
    write_file(&files.server_key, &key.serialize_pem())?;
    Ok(files)
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
