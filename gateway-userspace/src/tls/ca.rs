//! The gateway's certificate authority: `ca.pem` (public, what agents
//! trust) and `ca.key` (ECDSA P-256, readable by root only) in one
//! directory. It signs the leaf certificates the gateway shows agents.

pub(super) mod der;
mod files;

use std::{
    fmt, io,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyIdMethod, KeyPair,
    KeyUsagePurpose, PublicKeyData as _, SerialNumber,
};
use rustls::{
    crypto::SecureRandom,
    pki_types::{CertificateDer, pem::PemObject as _},
};

const CERT_FILE: &str = "ca.pem";
const KEY_FILE: &str = "ca.key";

/// Ten years: the CA is installed in agents' trust stores, which should
/// not have to change often.
const CA_LIFETIME: Duration = Duration::from_hours(3652 * 24);
/// Valid from a day before creation, so leaves minted right away (which are
/// backdated by minutes for clock skew) fall inside the CA's validity even
/// for verifiers that check nesting.
const CA_BACKDATE: Duration = Duration::from_hours(24);

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("creating CA directory {}: {source}", .dir.display())]
    CreateDir { dir: PathBuf, source: io::Error },
    #[error(
        "a certificate authority already exists in {} (agents may trust it already); to replace it, run `gateway ca init --force --dir {}` (agents must then trust the new one)",
        .dir.display(), .dir.display()
    )]
    Exists { dir: PathBuf },
    #[error("checking for an existing CA at {}: {source}", .path.display())]
    Inspect { path: PathBuf, source: io::Error },
    #[error("generating the CA key for {}: {source}", .dir.display())]
    Generate { dir: PathBuf, source: rcgen::Error },
    #[error("writing {}: {source}", .path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("reading CA key {}: {source}{}", .path.display(), hint(.source))]
    ReadKey { path: PathBuf, source: io::Error },
    #[error(
        "CA key {} is readable by group or others (mode {mode:04o}); run `chmod 600 {}`",
        .path.display(), .path.display()
    )]
    KeyPermissions { path: PathBuf, mode: u32 },
    #[error("parsing CA key {}: {source}", .path.display())]
    ParseKey { path: PathBuf, source: rcgen::Error },
    #[error("reading CA certificate {}: {source}{}", .path.display(), hint(.source))]
    ReadCert { path: PathBuf, source: io::Error },
    #[error("parsing CA certificate {}: {reason}", .path.display())]
    ParseCert { path: PathBuf, reason: String },
    #[error(
        "CA key {} does not belong to certificate {}; restore the matching pair, or run `gateway ca init --force` (agents must then trust the new CA)",
        .key.display(), .cert.display()
    )]
    KeyMismatch { key: PathBuf, cert: PathBuf },
    #[error("signing with the CA key {}: {source}", .path.display())]
    Sign { path: PathBuf, source: rcgen::Error },
    #[error("the system random number generator failed")]
    Random,
}

/// What to do about a file that is not there or not readable.
fn hint(error: &io::Error) -> &'static str {
    match error.kind() {
        io::ErrorKind::NotFound => " (run `gateway ca init` first)",
        io::ErrorKind::PermissionDenied => " (the CA directory is root's; run as root)",
        _ => "",
    }
}

pub struct CertificateAuthority {
    cert_path: PathBuf,
    key_path: PathBuf,
    cert_pem: String,
    /// The CA's name, key identifier and key, as rcgen signs with them.
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for CertificateAuthority {
    // Paths only: never anything derived from the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Creates a new authority in `dir` (made 0700 if it does not exist).
    /// Refuses to replace an existing one unless `force`.
    pub fn init(dir: &Path, force: bool) -> Result<Self, CaError> {
        let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        files::create_private_dir(dir).map_err(|source| CaError::CreateDir {
            dir: dir.to_owned(),
            source,
        })?;
        if !force {
            for path in [&key_path, &cert_path] {
                if files::exists(path).map_err(|source| CaError::Inspect {
                    path: path.clone(),
                    source,
                })? {
                    return Err(CaError::Exists {
                        dir: dir.to_owned(),
                    });
                }
            }
        }

        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|source| {
            CaError::Generate {
                dir: dir.to_owned(),
                source,
            }
        })?;
        let params = ca_params(&key, &hostname(), SystemTime::now())?;
        let cert = params.self_signed(&key).map_err(|source| CaError::Sign {
            path: key_path.clone(),
            source,
        })?;
        let cert_pem = cert.pem();

        // The key first: a crash between the two leaves a pair that `load`
        // reports as mismatched, never a certificate without its key.
        files::write_replacing(&key_path, key.serialize_pem().as_bytes(), files::KEY_MODE)
            .map_err(|source| CaError::Write {
                path: key_path.clone(),
                source,
            })?;
        files::write_replacing(&cert_path, cert_pem.as_bytes(), files::CERT_MODE).map_err(
            |source| CaError::Write {
                path: cert_path.clone(),
                source,
            },
        )?;
        files::sync_dir(dir).map_err(|source| CaError::Write {
            path: dir.to_owned(),
            source,
        })?;

        Ok(Self {
            cert_path,
            key_path,
            cert_pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads the authority from `dir`: the key must be private to its owner
    /// and belong to the certificate.
    pub fn load(dir: &Path) -> Result<Self, CaError> {
        let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        let key_pem = files::read_private(&key_path).map_err(|error| match error {
            files::ReadPrivateError::Io(source) => CaError::ReadKey {
                path: key_path.clone(),
                source,
            },
            files::ReadPrivateError::Exposed { mode } => CaError::KeyPermissions {
                path: key_path.clone(),
                mode,
            },
        })?;
        let key = KeyPair::from_pem(&key_pem).map_err(|source| CaError::ParseKey {
            path: key_path.clone(),
            source,
        })?;
        let (cert_pem, cert_der) = read_cert(&cert_path)?;
        let parse_error = |reason: String| CaError::ParseCert {
            path: cert_path.clone(),
            reason,
        };

        let fields = der::cert_fields(&cert_der).map_err(|e| parse_error(e.to_string()))?;
        if fields.spki != key.subject_public_key_info().as_slice() {
            return Err(CaError::KeyMismatch {
                key: key_path,
                cert: cert_path,
            });
        }
        let mut params = CertificateParams::default();
        params.distinguished_name =
            der::distinguished_name(fields.subject).map_err(|e| parse_error(e.to_string()))?;
        // Leaves' authority key identifier must equal the CA's subject key
        // identifier (OpenSSL, and so Python, reject a mismatch).
        params.key_identifier_method = fields.subject_key_id.map_or(KeyIdMethod::Sha256, |id| {
            KeyIdMethod::PreSpecified(id.to_vec())
        });
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = Issuer::new(params, key);

        // Verifiers match a leaf's issuer to the CA's subject byte for byte:
        // check that rcgen writes the name back exactly as the file has it.
        let probe = CertificateParams::default()
            .signed_by(issuer.key(), &issuer)
            .map_err(|source| CaError::Sign {
                path: key_path.clone(),
                source,
            })?;
        let probe_fields = der::cert_fields(probe.der()).map_err(|e| parse_error(e.to_string()))?;
        if probe_fields.issuer != fields.subject {
            return Err(parse_error(
                "its subject name uses a form the gateway cannot reproduce in the certificates it signs (such as repeated or multi-valued attributes)".to_owned(),
            ));
        }

        Ok(Self {
            cert_path,
            key_path,
            cert_pem,
            issuer,
        })
    }

    /// The certificate alone (PEM), checked to be one: for
    /// `gateway ca export`, which needs no access to the key.
    pub fn read_cert_pem(dir: &Path) -> Result<String, CaError> {
        read_cert(&dir.join(CERT_FILE)).map(|(pem, _)| pem)
    }

    /// The certificate agents must trust (PEM).
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "for `gateway exec` to hand agents; remove once it does"
        )
    )]
    #[must_use]
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    #[must_use]
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    #[must_use]
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }

    pub(super) fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }
}

fn ca_params(key: &KeyPair, hostname: &str, now: SystemTime) -> Result<CertificateParams, CaError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "gateway");
    // Two CAs with one name (a re-init, two hosts called `localhost`) would
    // confuse verifiers that look issuers up by name: part of the key's
    // identifier makes each name unique.
    let key_id = params.key_identifier(key);
    let key_id = crate::hex::encode(&key_id[..key_id.len().min(6)]);
    params
        .distinguished_name
        .push(DnType::OrganizationalUnitName, format!("key {key_id}"));
    params
        .distinguished_name
        .push(DnType::CommonName, format!("gateway local CA {hostname}"));
    // Pathlen 0: this CA signs leaves only, never another CA.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut params, now - CA_BACKDATE, now + CA_LIFETIME);
    params.serial_number =
        Some(random_serial(super::provider().secure_random).ok_or(CaError::Random)?);
    Ok(params)
}

/// The host's name as the kernel has it, for telling CAs apart in trust
/// stores; read from procfs so no `unsafe` `gethostname` is needed.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

/// Reads a PEM file holding one certificate.
fn read_cert(path: &Path) -> Result<(String, CertificateDer<'static>), CaError> {
    let pem = std::fs::read_to_string(path).map_err(|source| CaError::ReadCert {
        path: path.to_owned(),
        source,
    })?;
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| CaError::ParseCert {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    Ok((pem, der))
}

/// A random, positive, 16-byte serial number. Random rather than rcgen's
/// default (a hash of the subject key), which would repeat for every leaf
/// sharing one key, and clients such as Firefox reject two certificates with
/// the same issuer and serial.
pub(super) fn random_serial(random: &dyn SecureRandom) -> Option<SerialNumber> {
    let mut bytes = [0_u8; 16];
    random.fill(&mut bytes).ok()?;
    // Positive, and never shorter than 16 bytes once encoded.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Some(SerialNumber::from_slice(&bytes))
}

/// Sets a certificate's validity. rcgen takes `time` dates; they are
/// reached through rcgen's own `date_time_ymd`, so the gateway needs no
/// direct dependency on `time`.
pub(super) fn set_validity(params: &mut CertificateParams, from: SystemTime, until: SystemTime) {
    let since_epoch = |at: SystemTime| {
        at.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
    };
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + since_epoch(from);
    params.not_after = epoch + since_epoch(until);
}
