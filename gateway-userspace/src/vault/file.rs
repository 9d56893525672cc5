//! The vault file, `state_dir/vault.json`: `{"format": 1, "records": [..]}`.
//! Read tolerantly (a record that does not parse is kept verbatim and
//! reported, never dropped) and written atomically (temporary file in the
//! same directory, fsync, rename, fsync of the directory; mode 0600).

use std::{
    io::Write as _,
    os::unix::fs::OpenOptionsExt as _,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use super::{SealedRecord, VaultError, key::create_private_dir, record::FORMAT_VERSION};

#[derive(Debug, Clone, Default)]
pub struct VaultFile {
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
pub enum Entry {
    Sealed(SealedRecord),
    /// A record that does not parse: kept as it was, reported, not used.
    Unreadable {
        name: Option<String>,
        raw: serde_json::Value,
        error: String,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    format: u32,
    records: Vec<serde_json::Value>,
}

impl Entry {
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Sealed(r) => Some(&r.name),
            Self::Unreadable { name, .. } => name.as_deref(),
        }
    }
}

impl VaultFile {
    /// The vault at `path`; an absent file is an empty vault.
    pub fn read(path: &Path) -> Result<Self, VaultError> {
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(VaultError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let corrupt = |message: String| VaultError::Corrupt {
            path: path.to_owned(),
            message,
        };
        let disk: OnDisk = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
        if disk.format != FORMAT_VERSION {
            return Err(corrupt(format!(
                "format {} is not the supported {FORMAT_VERSION}",
                disk.format
            )));
        }
        let entries = disk
            .records
            .into_iter()
            .map(
                |raw| match serde_json::from_value::<SealedRecord>(raw.clone()) {
                    Ok(record) => Entry::Sealed(record),
                    Err(e) => Entry::Unreadable {
                        name: raw.get("name").and_then(|n| n.as_str()).map(str::to_owned),
                        raw,
                        error: e.to_string(),
                    },
                },
            )
            .collect();
        Ok(Self { entries })
    }

    /// Writes the vault to `path` atomically, mode 0600.
    pub fn write(&self, path: &Path) -> Result<(), VaultError> {
        let disk = OnDisk {
            format: FORMAT_VERSION,
            records: self
                .entries
                .iter()
                .map(|entry| match entry {
                    Entry::Sealed(record) => {
                        serde_json::to_value(record).expect("a record always serialises")
                    }
                    Entry::Unreadable { raw, .. } => raw.clone(),
                })
                .collect(),
        };
        let mut text = serde_json::to_vec_pretty(&disk).expect("JSON values serialise");
        text.push(b'\n');
        let dir = path.parent().unwrap_or(Path::new("."));
        let write = |source| VaultError::Write {
            path: path.to_owned(),
            source,
        };
        create_private_dir(dir).map_err(write)?;
        let tmp = temp_path(path);
        let result = (|| {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&text)?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)?;
            std::fs::File::open(dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(write)
    }

    /// The key id every sealed record shares, if any (a vault holds one key).
    #[must_use]
    pub fn sealed_key_id(&self) -> Option<&str> {
        self.entries.iter().find_map(|e| match e {
            Entry::Sealed(r) => Some(r.key_id.as_str()),
            Entry::Unreadable { .. } => None,
        })
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "vault.json".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}
