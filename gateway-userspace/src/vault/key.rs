//! The vault key: 32 random bytes from, in order, the environment
//! (`GATEWAY_VAULT_KEY`, hex or base64), a systemd credential
//! (`$CREDENTIALS_DIRECTORY/gateway-vault-key`) or the key file
//! `state_dir/vault.key` (mode 0600, created by the first `secret set`).
//!
//! Three subkeys are derived from it with HMAC-SHA256 under fixed labels:
//! the AES-256-GCM key, the placeholder key, and a short public key id
//! stored with each record, so a wrong key is named as such.

use std::{
    fmt,
    io::Write as _,
    os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _},
    path::{Path, PathBuf},
};

use base64::Engine as _;
use ring::{aead, hmac, rand::SecureRandom as _};
use zeroize::Zeroizing;

use crate::hex;

pub const KEY_ENV: &str = "GATEWAY_VAULT_KEY";
pub const CREDENTIAL_NAME: &str = "gateway-vault-key";
pub const KEY_FILE: &str = "vault.key";
const KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{source_name}: the vault key must be 32 bytes, as 64 hex digits or base64")]
    Format { source_name: String },
    #[error("reading the vault key {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the vault key file {path} is readable by group or others (mode {mode:o}); make it `chmod 600` and owned by root"
    )]
    Exposed { path: PathBuf, mode: u32 },
    #[error(
        "no vault key: set {KEY_ENV}, pass the systemd credential {CREDENTIAL_NAME}, or restore {path}"
    )]
    Missing { path: PathBuf },
    #[error("creating the vault key {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the system's random generator failed")]
    Random,
}

/// Where the key came from, for messages (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Env,
    Credential(PathBuf),
    File(PathBuf),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env => write!(f, "${KEY_ENV}"),
            Self::Credential(p) => write!(f, "systemd credential {}", p.display()),
            Self::File(p) => write!(f, "key file {}", p.display()),
        }
    }
}

pub struct VaultKey {
    aead: aead::LessSafeKey,
    placeholder: hmac::Key,
    id: String,
    pub source: KeySource,
}

impl fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VaultKey {{ id: {}, source: {} }}", self.id, self.source)
    }
}

impl VaultKey {
    pub(super) fn from_bytes(bytes: &[u8; KEY_LEN], source: KeySource) -> Self {
        let master = hmac::Key::new(hmac::HMAC_SHA256, bytes);
        let derive = |label: &[u8]| Zeroizing::new(hmac::sign(&master, label).as_ref().to_vec());
        let aead_bytes = derive(b"gateway vault aes-256-gcm v1");
        let placeholder_bytes = derive(b"gateway vault placeholders v1");
        let id_bytes = derive(b"gateway vault key id v1");
        let aead = aead::LessSafeKey::new(
            aead::UnboundKey::new(&aead::AES_256_GCM, &aead_bytes)
                .expect("32 bytes is an AES-256 key"),
        );
        Self {
            aead,
            placeholder: hmac::Key::new(hmac::HMAC_SHA256, &placeholder_bytes),
            id: hex::encode(&id_bytes[..4]),
            source,
        }
    }

    /// A short public name of the key, stored with each record.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(super) fn aead(&self) -> &aead::LessSafeKey {
        &self.aead
    }

    pub(super) fn placeholder_key(&self) -> &hmac::Key {
        &self.placeholder
    }

    /// The key from the first source that has one.
    pub fn load(state_dir: &Path) -> Result<Self, KeyError> {
        if let Some(text) = std::env::var_os(KEY_ENV).filter(|t| !t.is_empty()) {
            let text = Zeroizing::new(text.to_string_lossy().into_owned());
            let bytes = decode(text.as_bytes(), &KeySource::Env)?;
            return Ok(Self::from_bytes(&bytes, KeySource::Env));
        }
        if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
            let path = Path::new(&dir).join(CREDENTIAL_NAME);
            if path.exists() {
                let source = KeySource::Credential(path.clone());
                let bytes = read_key(&path, &source, false)?;
                return Ok(Self::from_bytes(&bytes, source));
            }
        }
        Self::load_file(state_dir)
    }

    /// The key file in `state_dir` (0600, else refused), whatever the
    /// environment says: the last source [`VaultKey::load`] tries.
    pub fn load_file(state_dir: &Path) -> Result<Self, KeyError> {
        let path = state_dir.join(KEY_FILE);
        if !path.exists() {
            return Err(KeyError::Missing { path });
        }
        let source = KeySource::File(path.clone());
        let bytes = read_key(&path, &source, true)?;
        Ok(Self::from_bytes(&bytes, source))
    }

    /// Like [`VaultKey::load`], but when no source has a key, makes a new
    /// key file (mode 0600) in `state_dir` (created 0700 if missing).
    pub fn load_or_create(state_dir: &Path) -> Result<Self, KeyError> {
        match Self::load(state_dir) {
            Err(KeyError::Missing { path }) => {
                let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
                ring::rand::SystemRandom::new()
                    .fill(bytes.as_mut())
                    .map_err(|_| KeyError::Random)?;
                let create = |source| KeyError::Create {
                    path: path.clone(),
                    source,
                };
                create_private_dir(state_dir).map_err(create)?;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(create)?;
                let mut text = Zeroizing::new(hex::encode(bytes.as_ref()));
                text.push('\n');
                file.write_all(text.as_bytes()).map_err(create)?;
                file.sync_all().map_err(create)?;
                tracing::info!(path = %path.display(), "created a new vault key");
                Ok(Self::from_bytes(&bytes, KeySource::File(path)))
            }
            other => other,
        }
    }
}

/// Creates `dir` (and parents) with mode 0700 if it does not exist.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn read_key(
    path: &Path,
    source: &KeySource,
    check_mode: bool,
) -> Result<Zeroizing<[u8; KEY_LEN]>, KeyError> {
    let read = |source| KeyError::Read {
        path: path.to_owned(),
        source,
    };
    if check_mode {
        let mode = std::fs::metadata(path).map_err(read)?.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Exposed {
                path: path.to_owned(),
                mode,
            });
        }
    }
    let bytes = Zeroizing::new(std::fs::read(path).map_err(read)?);
    if bytes.len() == KEY_LEN {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&bytes);
        return Ok(key);
    }
    decode(&bytes, source)
}

/// 64 hex digits or base64 (standard or URL-safe, padded or not) of 32
/// bytes, surrounding whitespace ignored.
fn decode(text: &[u8], source: &KeySource) -> Result<Zeroizing<[u8; KEY_LEN]>, KeyError> {
    let format = || KeyError::Format {
        source_name: source.to_string(),
    };
    let text = std::str::from_utf8(text).map_err(|_| format())?.trim();
    let bytes: Zeroizing<Vec<u8>> = if text.len() == 2 * KEY_LEN {
        Zeroizing::new(hex::decode(text).ok_or_else(format)?)
    } else {
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        Zeroizing::new(
            engines
                .iter()
                .find_map(|e| e.decode(text).ok())
                .ok_or_else(format)?,
        )
    };
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    if bytes.len() != KEY_LEN {
        return Err(format());
    }
    key.copy_from_slice(&bytes);
    Ok(key)
}
