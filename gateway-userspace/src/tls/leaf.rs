//! Leaf certificates for the names agents connect to, minted on first use,
//! signed by the gateway's CA, short-lived and cached.
//!
//! All leaves share one ECDSA P-256 key, generated at start and kept in
//! memory only. A key per leaf would roughly double the cost of a new name
//! (key generation costs about as much as the signature) and buy nothing:
//! every leaf key lives in this process beside the CA key, which can mint
//! any certificate anyway. Serial numbers are random, so leaves sharing a
//! key never share a serial.

mod cache;

use std::{
    borrow::Cow,
    fmt,
    net::IpAddr,
    sync::Arc,
    time::{Duration, SystemTime},
};

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair,
    KeyUsagePurpose, SanType, string::Ia5String,
};
use rustls::{
    ServerConfig,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName},
    server::{ClientHello, ProducesTickets, ResolvesServerCert},
    sign::{CertifiedKey, SigningKey},
};

use self::cache::Cache;
use super::{CertificateAuthority, TlsError, ca};

/// Backdating, for agents whose clock is a little behind the gateway's.
const BACKDATE: Duration = Duration::from_mins(5);
/// Short-lived: a leaf that leaks is useless a day later.
const LIFETIME: Duration = Duration::from_hours(24);
/// A cached leaf is replaced once less than this much validity remains, so
/// a connection never starts with a certificate about to expire.
const RENEW_BEFORE: Duration = Duration::from_hours(1);
/// Distinct names cached; beyond it the oldest-minted go.
pub const CACHE_CAPACITY: usize = 10_000;
/// X.520's upper bound for a common name.
const MAX_COMMON_NAME: usize = 64;

pub struct LeafCerts {
    ca: CertificateAuthority,
    /// The key every leaf certifies, as rcgen and as rustls use it.
    key: KeyPair,
    signing_key: Arc<dyn SigningKey>,
    provider: Arc<CryptoProvider>,
    /// Shared by every server config made from this, so that a session
    /// ticket stays valid whichever config issued it.
    ticketer: Arc<dyn ProducesTickets>,
    cache: Cache<Arc<CertifiedKey>>,
}

impl fmt::Debug for LeafCerts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeafCerts")
            .field("ca", &self.ca)
            .field("cached", &self.cached())
            .finish_non_exhaustive()
    }
}

impl LeafCerts {
    pub fn new(ca: CertificateAuthority) -> Result<Self, TlsError> {
        Self::with_capacity(ca, CACHE_CAPACITY)
    }

    pub fn with_capacity(ca: CertificateAuthority, capacity: usize) -> Result<Self, TlsError> {
        let provider = super::provider();
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| TlsError::LeafKey(e.to_string()))?;
        let signing_key = provider
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                key.serialize_der(),
            )))
            .map_err(|e| TlsError::LeafKey(e.to_string()))?;
        let ticketer = rustls::crypto::ring::Ticketer::new().map_err(TlsError::Ticketer)?;
        Ok(Self {
            ca,
            key,
            signing_key,
            provider,
            ticketer,
            cache: Cache::new(capacity),
        })
    }

    /// The certificate and key to show for `host`: a DNS name or an IP
    /// address (as in SNI or a `Host` header: any case, an optional
    /// trailing dot, IPv6 with or without brackets). Cached.
    pub fn certified_key(&self, host: &str) -> Result<Arc<CertifiedKey>, TlsError> {
        let name = normalise(host);
        let now = SystemTime::now();
        if let Some(key) = self.cache.get(&name, now) {
            return Ok(key);
        }
        let key = Arc::new(self.mint(&name, now)?);
        Ok(self
            .cache
            .insert(&name, key, now + LIFETIME - RENEW_BEFORE, now))
    }

    fn mint(&self, name: &str, now: SystemTime) -> Result<CertifiedKey, TlsError> {
        let invalid = || TlsError::InvalidName {
            name: name.to_owned(),
        };
        let san = match ServerName::try_from(name).map_err(|_| invalid())? {
            ServerName::DnsName(_) => {
                SanType::DnsName(Ia5String::try_from(name).map_err(|_| invalid())?)
            }
            ServerName::IpAddress(ip) => SanType::IpAddress(IpAddr::from(ip)),
            _ => return Err(invalid()),
        };
        let mut params = CertificateParams::default();
        params.subject_alt_names = vec![san];
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "gateway");
        // Clients match the SAN; a CN is for people reading the certificate.
        if name.len() <= MAX_COMMON_NAME {
            params.distinguished_name.push(DnType::CommonName, name);
        }
        ca::set_validity(&mut params, now - BACKDATE, now + LIFETIME);
        params.serial_number =
            Some(ca::random_serial(self.provider.secure_random).ok_or(TlsError::Random)?);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        // Required by OpenSSL's strict mode, which Python 3.13 turns on.
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&self.key, self.ca.issuer())
            .map_err(|source| TlsError::Mint {
                name: name.to_owned(),
                ca: self.ca.cert_path().to_owned(),
                source,
            })?;
        // The leaf alone: agents trust the CA itself, so sending it would
        // only make every handshake larger.
        Ok(CertifiedKey::new(
            vec![CertificateDer::from(cert)],
            Arc::clone(&self.signing_key),
        ))
    }

    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "for `gateway exec` to hand agents the CA; remove once it does"
        )
    )]
    #[must_use]
    pub fn ca(&self) -> &CertificateAuthority {
        &self.ca
    }

    /// How many names have a certificate cached.
    #[must_use]
    pub fn cached(&self) -> usize {
        self.cache.len()
    }
}

/// The cache key: lowercase, no trailing dot, no IPv6 brackets. Borrows
/// when the name is already in that form, as rustls gives SNI.
fn normalise(host: &str) -> Cow<'_, str> {
    let host = host.strip_suffix('.').unwrap_or(host);
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

/// Chooses the certificate by SNI. A client that sends no SNI gets no
/// certificate, and rustls fails the handshake: without a name there is
/// nothing to put in the certificate, and nothing for policy to match.
/// For agents that connect to an IP address (and so send no SNI), see
/// [`server_config_for_ip`].
impl ResolvesServerCert for LeafCerts {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        resolve_name(self, client_hello.server_name()?)
    }
}

fn resolve_name(leaf: &LeafCerts, name: &str) -> Option<Arc<CertifiedKey>> {
    leaf.certified_key(name)
        .inspect_err(|error| tracing::warn!(server_name = name, %error, "no certificate for agent"))
        .ok()
}

/// The certificate for the SNI name or, without SNI, for the IP address the
/// agent connected to.
#[derive(Debug)]
struct SniOrIp {
    leaf: Arc<LeafCerts>,
    ip: String,
}

impl ResolvesServerCert for SniOrIp {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        resolve_name(&self.leaf, client_hello.server_name().unwrap_or(&self.ip))
    }
}

/// The TLS server side of interception: certificates by SNI (no SNI, no
/// handshake), ALPN h2 and http/1.1, TLS 1.2 and 1.3, ring.
#[must_use]
pub fn server_config(leaf: Arc<LeafCerts>) -> Arc<ServerConfig> {
    let (provider, ticketer) = (Arc::clone(&leaf.provider), Arc::clone(&leaf.ticketer));
    build_server_config(provider, ticketer, leaf)
}

/// As [`server_config`], but a client without SNI gets a certificate for
/// `ip` (an IP SAN): for an agent that connected to `https://<ip>/`. Made
/// per connection, which costs a few allocations.
#[must_use]
pub fn server_config_for_ip(leaf: Arc<LeafCerts>, ip: IpAddr) -> Arc<ServerConfig> {
    let (provider, ticketer) = (Arc::clone(&leaf.provider), Arc::clone(&leaf.ticketer));
    let resolver = SniOrIp {
        leaf,
        ip: ip.to_string(),
    };
    build_server_config(provider, ticketer, Arc::new(resolver))
}

fn build_server_config(
    provider: Arc<CryptoProvider>,
    ticketer: Arc<dyn ProducesTickets>,
    resolver: Arc<dyn ResolvesServerCert>,
) -> Arc<ServerConfig> {
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("the ring provider supports TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = super::alpn_protocols();
    // Stateless resumption: an agent reconnecting skips the certificate
    // signature, and the gateway keeps no per-session memory.
    config.ticketer = ticketer;
    Arc::new(config)
}
