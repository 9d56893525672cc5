//! The CA's files on disk: written whole or not at all, and the key never
//! readable by anyone but its owner, not even for a moment.

use std::{
    fs::{self, DirBuilder, File, OpenOptions, Permissions},
    io::{self, Read as _, Write as _},
    os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
};

pub(super) const KEY_MODE: u32 = 0o600;
pub(super) const CERT_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o700;
/// Permission bits that make a secret readable (or writable) by others.
const GROUP_OTHER: u32 = 0o077;

/// Creates `dir` (and missing parents) with mode 0700. An existing
/// directory is left as it is: it may be shared, such as `/tmp`.
pub(super) fn create_private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Whether anything (even a dangling link) is at `path`.
pub(super) fn exists(path: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes `contents` to `path` with `mode`, replacing what was there. The
/// data goes to a new temporary file, created with its final mode (the
/// umask can only narrow it) and `O_EXCL` (so a planted link is not
/// followed), is synced, then renamed into place.
pub(super) fn write_replacing(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let temp = temp_path(path);
    // A leftover from an interrupted run; `create_new` below would fail on it.
    if let Err(e) = fs::remove_file(&temp)
        && e.kind() != io::ErrorKind::NotFound
    {
        return Err(e);
    }
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)?;
        // The umask may have removed bits a public file needs.
        file.set_permissions(Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if written.is_err() {
        // Best effort: the error that matters is the one being returned.
        let _ = fs::remove_file(&temp);
    }
    written
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".new");
    path.with_file_name(name)
}

/// Makes renames in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[derive(Debug)]
pub(super) enum ReadPrivateError {
    Io(io::Error),
    /// The file's mode lets group or others read or write it.
    Exposed {
        mode: u32,
    },
}

/// Reads a secret file, refusing one that others may read. The mode is
/// checked on the opened file, so it is the mode of what is read.
pub(super) fn read_private(path: &Path) -> Result<String, ReadPrivateError> {
    let mut file = File::open(path).map_err(ReadPrivateError::Io)?;
    let mode = file
        .metadata()
        .map_err(ReadPrivateError::Io)?
        .permissions()
        .mode()
        & 0o7777;
    if mode & GROUP_OTHER != 0 {
        return Err(ReadPrivateError::Exposed { mode });
    }
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(ReadPrivateError::Io)?;
    Ok(text)
}
