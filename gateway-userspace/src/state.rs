//! The state directory (`/var/lib/gateway` by default): root-only, it
//! holds the database of approvals and audit records (`db/`, sled) and
//! the admin socket (`admin.sock`).

use std::{
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("preparing the state directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "opening the database {path}: {source} (is another gateway using this state directory? only one process may open it)"
    )]
    Open { path: PathBuf, source: sled::Error },
}

/// Creates `dir` if needed and makes it root-only (0700).
pub fn prepare_dir(dir: &Path) -> Result<(), StateError> {
    let err = |source| StateError::Dir {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)
}

#[must_use]
pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("db")
}

#[must_use]
pub fn admin_socket_path(dir: &Path) -> PathBuf {
    dir.join("admin.sock")
}

/// Opens (or creates) the database in `dir`.
pub fn open_db(dir: &Path) -> Result<sled::Db, StateError> {
    prepare_dir(dir)?;
    let path = db_path(dir);
    sled::Config::new()
        .path(&path)
        .open()
        .map_err(|source| StateError::Open { path, source })
}
