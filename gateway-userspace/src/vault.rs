//! The credentials vault: secrets sealed at rest with AES-256-GCM in
//! `state_dir/vault.json`, each with the binding that says where the
//! gateway may put it (hosts, position, agents).
//!
//! Every record is sealed under its own random nonce with the record's
//! name, binding and key id as associated data, so a ciphertext moved to
//! another record, an edited binding or a flipped bit fails to open and
//! the record is reported by name and never used; the other records still
//! open. Agents never see a secret: they hold a [`Placeholder`] derived
//! from the vault key, which the proxy swaps for the secret on the way out
//! (see `credentials.rs`).

pub mod binding;
mod file;
mod key;
pub mod placeholder;
mod record;
mod secret;
pub mod store;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use self::{
    binding::{AgentScope, Binding, Position},
    file::{Entry, VaultFile},
    key::{KEY_ENV, KeyError, VaultKey},
    placeholder::Placeholder,
    record::{RecordError, SealedRecord},
    secret::SecretValue,
};

/// The vault file below the state directory.
pub const VAULT_FILE: &str = "vault.json";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("reading the vault {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing the vault {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the vault {path} is not readable as a whole ({message}); it is left untouched: restore it from a backup or move it away"
    )]
    Corrupt { path: PathBuf, message: String },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "the vault's records were sealed with key {sealed}, but the key in use ({source_name}) is {given}; refusing to mix keys in one vault"
    )]
    KeyMismatch {
        sealed: String,
        given: String,
        source_name: String,
    },
    #[error("no secret named {0:?} in the vault")]
    NotFound(String),
}

/// `state_dir/vault.json`.
#[must_use]
pub fn vault_path(state_dir: &Path) -> PathBuf {
    state_dir.join(VAULT_FILE)
}

/// One opened record: a secret with its binding.
#[derive(Debug)]
pub struct Secret {
    pub name: String,
    pub binding: Binding,
    pub value: SecretValue,
}

/// What opening a whole vault gave: the secrets that opened, and each
/// record that did not, by name, with why.
#[derive(Debug, Default)]
pub struct Opened {
    pub secrets: Vec<Secret>,
    pub failures: Vec<(String, RecordError)>,
}

impl VaultFile {
    /// Opens every record with `key`. A record that fails is listed in
    /// `failures` and left out; a second record with a name already seen
    /// is a failure too (never a silent override).
    #[must_use]
    pub fn open_all(&self, key: &VaultKey) -> Opened {
        let mut opened = Opened::default();
        for entry in &self.entries {
            match entry {
                Entry::Sealed(record) => {
                    if opened.secrets.iter().any(|s| s.name == record.name) {
                        opened
                            .failures
                            .push((record.name.clone(), RecordError::Duplicate));
                        continue;
                    }
                    match record.open(key) {
                        Ok(value) => opened.secrets.push(Secret {
                            name: record.name.clone(),
                            binding: record.binding.clone(),
                            value,
                        }),
                        Err(error) => opened.failures.push((record.name.clone(), error)),
                    }
                }
                Entry::Unreadable { name, error, .. } => opened.failures.push((
                    name.clone().unwrap_or_else(|| "(unnamed)".into()),
                    RecordError::Malformed(error.clone()),
                )),
            }
        }
        opened
    }
}

/// A secret's name doubles as the environment variable the agent gets.
pub fn validate_name(name: &str) -> Result<(), VaultError> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') && name.len() <= 128 {
        Ok(())
    } else {
        Err(VaultError::Invalid(format!(
            "secret name {name:?}: use letters, digits and `_`, not starting with a digit (it becomes the agent's environment variable)"
        )))
    }
}

/// Refuses a key other than the one the vault's records were sealed with.
pub fn check_key(file: &VaultFile, key: &VaultKey) -> Result<(), VaultError> {
    match file.sealed_key_id() {
        Some(sealed) if sealed != key.id() => Err(VaultError::KeyMismatch {
            sealed: sealed.to_owned(),
            given: key.id().to_owned(),
            source_name: key.source.to_string(),
        }),
        _ => Ok(()),
    }
}

/// A vault opened with its key: what the gateway and `secret env` use.
pub struct OpenVault {
    pub key: VaultKey,
    /// Records in the file, opened or not.
    pub records: usize,
    pub opened: Opened,
}

/// The vault in `state_dir`, opened with its key; `None` for an empty
/// vault (which needs no key). A key other than the one the records were
/// sealed with is refused as a whole; a record that does not open is
/// logged and left out.
pub fn open(state_dir: &Path) -> Result<Option<OpenVault>, VaultError> {
    let path = vault_path(state_dir);
    let file = VaultFile::read(&path)?;
    if file.entries.is_empty() {
        return Ok(None);
    }
    let key = VaultKey::load(state_dir)?;
    check_key(&file, &key)?;
    let opened = file.open_all(&key);
    for (name, error) in &opened.failures {
        tracing::error!(secret = %name, %error, path = %path.display(), "vault record not used");
    }
    Ok(Some(OpenVault {
        key,
        records: file.entries.len(),
        opened,
    }))
}

/// The placeholders `agent` gets, `(secret name, placeholder)`, for each
/// record that opens and is bound to it. An empty vault needs no key.
pub fn placeholders_for(
    state_dir: &Path,
    agent: &str,
) -> Result<Vec<(String, Placeholder)>, VaultError> {
    let Some(OpenVault { key, opened, .. }) = open(state_dir)? else {
        return Ok(Vec::new());
    };
    Ok(opened
        .secrets
        .iter()
        .filter(|s| s.binding.allows_agent(agent))
        .map(|s| (s.name.clone(), Placeholder::derive(&key, agent, &s.name)))
        .collect())
}
