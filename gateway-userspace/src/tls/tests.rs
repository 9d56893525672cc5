//! The CA on disk, leaves verified by a real rustls client in an in-memory
//! handshake, and the cost of minting (printed, not asserted).

use std::{
    net::IpAddr,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Instant,
};

use rustls::{
    ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig, ServerConnection,
    client::{WebPkiServerVerifier, danger::ServerCertVerifier as _},
    pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject as _},
};

use super::{
    CaError, CertificateAuthority, LeafCerts, client_config, server_config, server_config_for_ip,
};

/// A directory removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "gateway-tls-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("creating a test directory");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn new_ca(dir: &TempDir) -> CertificateAuthority {
    CertificateAuthority::init(&dir.0.join("ca"), false).expect("initialising a CA")
}

fn leaf_certs() -> (TempDir, Arc<LeafCerts>) {
    let dir = TempDir::new();
    let leaf = LeafCerts::new(new_ca(&dir)).expect("leaf certificates");
    (dir, Arc::new(leaf))
}

/// A client trusting only `ca`, through the same path as `upstream_ca_file`.
fn client_trusting(dir: &TempDir, ca: &CertificateAuthority) -> Arc<ClientConfig> {
    let path = dir.0.join("trusted.pem");
    std::fs::write(&path, ca.cert_pem()).expect("writing the trusted CA");
    client_config(Some(&path)).expect("client config")
}

fn verifier(ca: &CertificateAuthority) -> Arc<WebPkiServerVerifier> {
    let mut roots = RootCertStore::empty();
    roots.add(der_of(ca)).expect("CA as trust anchor");
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), super::provider())
        .build()
        .expect("verifier")
}

/// Runs a TLS handshake between the two in memory; on success, returns
/// the client side (for the negotiated protocol and the peer's chain).
fn handshake(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    name: &str,
) -> Result<ClientConnection, rustls::Error> {
    let name = ServerName::try_from(name.to_owned()).expect("a server name");
    let mut client = Connection::Client(ClientConnection::new(client, name)?);
    let mut server = Connection::Server(ServerConnection::new(server)?);
    for _ in 0..10 {
        transfer(&mut client, &mut server)?;
        transfer(&mut server, &mut client)?;
        if !client.is_handshaking() && !server.is_handshaking() {
            let Connection::Client(client) = client else {
                unreachable!()
            };
            return Ok(client);
        }
    }
    panic!("the handshake did not finish");
}

fn transfer(from: &mut Connection, to: &mut Connection) -> Result<(), rustls::Error> {
    let mut buf = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buf).expect("writing to memory");
    }
    let mut rest = buf.as_slice();
    while !rest.is_empty() {
        to.read_tls(&mut rest).expect("reading from memory");
        to.process_new_packets()?;
    }
    Ok(())
}

fn der_of(ca: &CertificateAuthority) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).expect("a PEM certificate")
}

fn leaf_of(client: &ClientConnection) -> CertificateDer<'static> {
    client.peer_certificates().expect("a server certificate")[0].clone()
}

#[test]
fn init_creates_private_files() {
    let dir = TempDir::new();
    let ca_dir = dir.0.join("new/ca");
    let ca = CertificateAuthority::init(&ca_dir, false).expect("init");
    assert_eq!(mode(&ca_dir), 0o700);
    assert_eq!(mode(&ca_dir.join("ca.key")), 0o600);
    assert_eq!(mode(&ca_dir.join("ca.pem")), 0o644);
    assert_eq!(ca.cert_path(), ca_dir.join("ca.pem"));
    let on_disk = std::fs::read_to_string(ca_dir.join("ca.pem")).expect("reading ca.pem");
    assert_eq!(on_disk, ca.cert_pem());
    assert!(on_disk.starts_with("-----BEGIN CERTIFICATE-----"));
    let names: Vec<_> = std::fs::read_dir(&ca_dir)
        .expect("listing")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 2, "no temporary files left: {names:?}");
}

#[test]
fn init_refuses_to_replace_unless_forced() {
    let dir = TempDir::new();
    let ca_dir = dir.0.join("ca");
    let first = CertificateAuthority::init(&ca_dir, false).expect("init");
    let error = CertificateAuthority::init(&ca_dir, false).expect_err("second init");
    assert!(matches!(error, CaError::Exists { .. }), "{error}");
    assert!(error.to_string().contains("--force"), "{error}");
    assert_eq!(
        std::fs::read_to_string(ca_dir.join("ca.pem")).expect("ca.pem"),
        first.cert_pem(),
        "the refused init changed nothing"
    );

    let second = CertificateAuthority::init(&ca_dir, true).expect("forced init");
    assert_ne!(second.cert_pem(), first.cert_pem());
    assert_eq!(mode(&ca_dir.join("ca.key")), 0o600);
    let loaded = CertificateAuthority::load(&ca_dir).expect("load");
    assert_eq!(loaded.cert_pem(), second.cert_pem());
}

#[test]
fn load_reads_what_init_wrote() {
    let dir = TempDir::new();
    let ca = new_ca(&dir);
    let loaded = CertificateAuthority::load(&dir.0.join("ca")).expect("load");
    assert_eq!(loaded.cert_pem(), ca.cert_pem());
    assert_eq!(
        CertificateAuthority::read_cert_pem(&dir.0.join("ca")).expect("read"),
        ca.cert_pem()
    );
}

#[test]
fn load_rejects_a_key_others_can_read() {
    let dir = TempDir::new();
    let ca = new_ca(&dir);
    std::fs::set_permissions(ca.key_path(), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let error = CertificateAuthority::load(&dir.0.join("ca")).expect_err("load");
    assert!(
        matches!(error, CaError::KeyPermissions { mode: 0o644, .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("chmod 600"), "{message}");
    assert!(message.contains("mode 0644"), "{message}");
    assert!(
        message.contains(&ca.key_path().display().to_string()),
        "{message}"
    );
}

#[test]
fn load_without_a_ca_says_what_to_run() {
    let dir = TempDir::new();
    let error = CertificateAuthority::load(&dir.0.join("none")).expect_err("load");
    let message = error.to_string();
    assert!(message.contains("none/ca.key"), "{message}");
    assert!(message.contains("run `gateway ca init` first"), "{message}");
}

#[test]
fn load_rejects_a_key_from_another_ca() {
    let (one, other) = (TempDir::new(), TempDir::new());
    new_ca(&one);
    let stranger = new_ca(&other);
    std::fs::copy(stranger.key_path(), one.0.join("ca/ca.key")).expect("copying the key");
    let error = CertificateAuthority::load(&one.0.join("ca")).expect_err("load");
    assert!(matches!(error, CaError::KeyMismatch { .. }), "{error}");
}

#[test]
fn load_accepts_a_ca_made_elsewhere() {
    // Printable strings, several attributes, SHA-256 key identifiers: as
    // other tools make them.
    let dir = TempDir::new();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        rcgen::DnType::CountryName,
        rcgen::DnValue::PrintableString("NL".try_into().expect("printable")),
    );
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Example B.V.");
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        rcgen::DnValue::PrintableString("Example Root".try_into().expect("printable")),
    );
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    let cert = params.self_signed(&key).expect("self-signed");
    let ca_dir = dir.0.join("ca");
    std::fs::create_dir(&ca_dir).expect("mkdir");
    std::fs::write(ca_dir.join("ca.pem"), cert.pem()).expect("ca.pem");
    std::fs::write(ca_dir.join("ca.key"), key.serialize_pem()).expect("ca.key");
    std::fs::set_permissions(
        ca_dir.join("ca.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod");

    let leaf =
        Arc::new(LeafCerts::new(CertificateAuthority::load(&ca_dir).expect("load")).expect("leaf"));
    let client = client_trusting(&dir, leaf.ca());
    handshake(server_config(Arc::clone(&leaf)), client, "api.example.com")
        .expect("a leaf signed by a foreign CA verifies");
}

#[test]
fn leaf_verifies_for_its_name_with_alpn() {
    let (dir, leaf) = leaf_certs();
    let client = client_trusting(&dir, leaf.ca());
    let conn =
        handshake(server_config(Arc::clone(&leaf)), client, "api.example.com").expect("handshake");
    assert_eq!(conn.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(
        conn.peer_certificates().map(<[_]>::len),
        Some(1),
        "leaf only"
    );
}

#[test]
fn http1_only_clients_get_http1() {
    let (dir, leaf) = leaf_certs();
    let mut client = (*client_trusting(&dir, leaf.ca())).clone();
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    let conn = handshake(
        server_config(Arc::clone(&leaf)),
        Arc::new(client),
        "api.example.com",
    )
    .expect("handshake");
    assert_eq!(conn.alpn_protocol(), Some(&b"http/1.1"[..]));
}

#[test]
fn tls12_handshakes_work() {
    let (_dir, leaf) = leaf_certs();
    let mut roots = RootCertStore::empty();
    roots.add(der_of(leaf.ca())).expect("CA as trust anchor");
    let mut client = ClientConfig::builder_with_provider(super::provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .expect("TLS 1.2")
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"h2".to_vec()];
    let conn = handshake(
        server_config(Arc::clone(&leaf)),
        Arc::new(client),
        "api.example.com",
    )
    .expect("handshake");
    assert_eq!(
        conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
}

#[test]
fn leaf_fails_verification_for_another_name() {
    let (_dir, leaf) = leaf_certs();
    let cert = leaf.certified_key("api.example.com").expect("mint");
    let verifier = verifier(leaf.ca());
    let verify = |name: &str| {
        verifier.verify_server_cert(
            cert.end_entity_cert().expect("a leaf"),
            &[],
            &ServerName::try_from(name).expect("a name"),
            &[],
            UnixTime::now(),
        )
    };
    verify("api.example.com").expect("valid for its own name");
    let error = verify("evil.example.com").expect_err("another name");
    assert!(
        matches!(
            error,
            rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. }
            )
        ),
        "{error:?}"
    );
    verify("example.com").expect_err("the parent domain");
}

#[test]
fn a_leaf_from_another_ca_is_not_trusted() {
    let (_dir, leaf) = leaf_certs();
    let (other_dir, other) = leaf_certs();
    let client = client_trusting(&other_dir, other.ca());
    let error = handshake(server_config(leaf), client, "api.example.com").expect_err("untrusted");
    assert!(
        matches!(
            error,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
        ),
        "{error:?}"
    );
}

#[test]
fn cache_returns_the_same_certificate_for_a_name() {
    let (_dir, leaf) = leaf_certs();
    let first = leaf.certified_key("api.example.com").expect("mint");
    for name in ["api.example.com", "API.Example.COM", "api.example.com."] {
        let again = leaf.certified_key(name).expect("cached");
        assert!(Arc::ptr_eq(&first, &again), "{name}");
    }
    let other = leaf.certified_key("www.example.com").expect("mint");
    assert!(!Arc::ptr_eq(&first, &other));
    assert_ne!(first.cert, other.cert);
    assert_eq!(leaf.cached(), 2);
}

#[test]
fn cache_is_bounded() {
    let dir = TempDir::new();
    let leaf = LeafCerts::with_capacity(new_ca(&dir), 3).expect("leaf");
    for i in 0..10 {
        leaf.certified_key(&format!("host{i}.example.com"))
            .expect("mint");
    }
    assert_eq!(leaf.cached(), 3);
}

#[test]
fn ip_addresses_get_ip_sans() {
    let (dir, leaf) = leaf_certs();
    let client = client_trusting(&dir, leaf.ca());
    for ip in ["10.1.2.3", "2001:db8::1"] {
        let addr: IpAddr = ip.parse().expect("an IP");
        // A client connecting to an IP sends no SNI: the destination decides.
        let conn = handshake(
            server_config_for_ip(Arc::clone(&leaf), addr),
            Arc::clone(&client),
            ip,
        )
        .unwrap_or_else(|e| panic!("handshake for {ip}: {e}"));
        let cert = leaf_of(&conn);
        verifier(leaf.ca())
            .verify_server_cert(
                &cert,
                &[],
                &ServerName::try_from("10.9.9.9").expect("ip"),
                &[],
                UnixTime::now(),
            )
            .expect_err("not valid for another address");
    }
    // And through the name API, brackets and all.
    let bracketed = leaf.certified_key("[2001:db8::1]").expect("mint");
    let plain = leaf.certified_key("2001:db8::1").expect("cached");
    assert!(Arc::ptr_eq(&bracketed, &plain));
}

#[test]
fn sni_still_wins_over_the_ip_fallback() {
    let (dir, leaf) = leaf_certs();
    let client = client_trusting(&dir, leaf.ca());
    let config = server_config_for_ip(Arc::clone(&leaf), "10.1.2.3".parse().expect("ip"));
    handshake(config, client, "api.example.com").expect("certificate for the SNI name");
}

#[test]
fn no_sni_fails_the_handshake() {
    let (dir, leaf) = leaf_certs();
    let mut client = (*client_trusting(&dir, leaf.ca())).clone();
    client.enable_sni = false;
    let error = handshake(server_config(leaf), Arc::new(client), "api.example.com")
        .expect_err("no certificate without SNI");
    assert!(
        matches!(
            error,
            rustls::Error::General(_) | rustls::Error::AlertReceived(_)
        ),
        "{error:?}"
    );
}

#[test]
fn names_that_are_not_hosts_are_refused() {
    let (_dir, leaf) = leaf_certs();
    for name in ["", "bad name", "a..b", "-"] {
        assert!(leaf.certified_key(name).is_err(), "{name:?}");
    }
    assert_eq!(leaf.cached(), 0);
}

#[test]
fn upstream_config_rejects_a_file_without_certificates() {
    let dir = TempDir::new();
    let path = dir.0.join("empty.pem");
    std::fs::write(&path, "not a certificate\n").expect("write");
    let error = client_config(Some(&path)).expect_err("no certificates");
    assert!(error.to_string().contains("empty.pem"), "{error}");
    let missing = client_config(Some(&dir.0.join("missing.pem"))).expect_err("missing");
    assert!(missing.to_string().contains("missing.pem"), "{missing}");
    client_config(None).expect("web roots alone");
}

/// The cost of a new name, of a cached one, and of a whole handshake
/// (client and server, one thread). Printed: run with `--nocapture`.
#[test]
fn minting_cost() {
    const NEW: u32 = 2000;
    const CACHED: u32 = 200_000;
    const HANDSHAKES: u32 = 300;
    let (dir, leaf) = leaf_certs();
    let start = Instant::now();
    for i in 0..NEW {
        leaf.certified_key(&format!("host{i}.example.com"))
            .expect("mint");
    }
    let per_mint = start.elapsed() / NEW;

    let start = Instant::now();
    for i in 0..CACHED {
        let key = leaf.certified_key(if i % 2 == 0 {
            "host1.example.com"
        } else {
            "host2.example.com"
        });
        std::hint::black_box(key.expect("cached"));
    }
    let per_lookup = start.elapsed() / CACHED;

    let start = Instant::now();
    for _ in 0..NEW / 10 {
        std::hint::black_box(
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key"),
        );
    }
    let per_keygen = start.elapsed() / (NEW / 10);

    let threads = std::thread::available_parallelism().map_or(4, |n| n.get().min(8));
    let start = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let leaf = &leaf;
            scope.spawn(move || {
                let name = format!("host{t}.example.com");
                for _ in 0..CACHED {
                    std::hint::black_box(leaf.certified_key(&name).expect("cached"));
                }
            });
        }
    });
    let parallel_lookups = f64::from(CACHED) * f64::from(u32::try_from(threads).expect("few"))
        / start.elapsed().as_secs_f64();

    let server = server_config(Arc::clone(&leaf));
    let mut client = (*client_trusting(&dir, leaf.ca())).clone();
    // Every handshake a full one.
    client.resumption = rustls::client::Resumption::disabled();
    let client = Arc::new(client);
    let mut server_side = std::time::Duration::ZERO;
    let start = Instant::now();
    for _ in 0..HANDSHAKES {
        server_side += server_side_of_handshake(&server, &client, "host1.example.com");
    }
    let per_handshake = start.elapsed() / HANDSHAKES;
    let per_server_side = server_side / HANDSHAKES;

    println!(
        "tls: mint a new leaf {per_mint:?}; cached lookup {per_lookup:?} on one thread, {parallel_lookups:.0}/s over {threads} threads; P-256 key generation (which the shared leaf key avoids) {per_keygen:?}; full TLS 1.3 handshake with a cached leaf {per_handshake:?} for client and server together, {per_server_side:?} of it the server's ({:.0} handshakes/s per core)",
        1.0 / per_server_side.as_secs_f64()
    );
}

/// One full handshake, in memory; returns the time spent on the server's
/// side of it.
fn server_side_of_handshake(
    server: &Arc<ServerConfig>,
    client: &Arc<ClientConfig>,
    name: &'static str,
) -> std::time::Duration {
    let name = ServerName::try_from(name).expect("a name");
    let mut client = ClientConnection::new(Arc::clone(client), name).expect("client");
    let start = Instant::now();
    let mut server = ServerConnection::new(Arc::clone(server)).expect("server");
    let mut spent = start.elapsed();
    let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
    while client.is_handshaking() || server.is_handshaking() {
        to_server.clear();
        while client.wants_write() {
            client.write_tls(&mut to_server).expect("to memory");
        }
        let start = Instant::now();
        let mut rest = to_server.as_slice();
        while !rest.is_empty() {
            server.read_tls(&mut rest).expect("from memory");
            server.process_new_packets().expect("server");
        }
        to_client.clear();
        while server.wants_write() {
            server.write_tls(&mut to_client).expect("to memory");
        }
        spent += start.elapsed();
        let mut rest = to_client.as_slice();
        while !rest.is_empty() {
            client.read_tls(&mut rest).expect("from memory");
            client.process_new_packets().expect("client");
        }
    }
    spent
}
