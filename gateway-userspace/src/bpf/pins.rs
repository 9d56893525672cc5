//! The pin directory: where a gateway's links live in bpffs so that they
//! outlive the process. While a link is pinned its program stays attached,
//! which is what makes the agents fail closed when the gateway is gone.
//!
//! Layout: `<pin_dir>/<cgroup id>-<program>-<generation>`. A new gateway
//! pins under a new generation, then removes the older pins.

use std::path::{Path, PathBuf};

const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not on a BPF file system (bpffs); mount one with `mount -t bpf bpf /sys/fs/bpf`"
    )]
    NotBpffs { path: PathBuf },
}

/// The pin directory of one gateway instance.
#[derive(Debug, Clone)]
pub struct PinDir {
    dir: PathBuf,
}

impl PinDir {
    /// Creates the directory if needed, mounting bpffs on /sys/fs/bpf
    /// first when nothing is mounted there.
    pub fn prepare(dir: &Path) -> Result<Self, PinError> {
        let parent = dir.parent().unwrap_or(Path::new("/"));
        if parent == Path::new("/sys/fs/bpf") && !is_bpffs(parent) {
            mount_bpffs(parent)?;
        }
        std::fs::create_dir_all(dir).map_err(|source| PinError::Io {
            what: "creating pin directory",
            path: dir.to_owned(),
            source,
        })?;
        if !is_bpffs(dir) {
            return Err(PinError::NotBpffs {
                path: dir.to_owned(),
            });
        }
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    #[must_use]
    pub fn path_for(&self, cgroup_id: u64, program: &str, generation: &str) -> PathBuf {
        self.dir.join(format!("{cgroup_id}-{program}-{generation}"))
    }

    /// Pins whose name does not end in `-<generation>`.
    pub fn older_than(&self, generation: &str) -> Result<Vec<PathBuf>, PinError> {
        let suffix = format!("-{generation}");
        Ok(list(&self.dir)?
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_none_or(|n| !n.ends_with(&suffix))
            })
            .collect())
    }
}

/// Removes every pin in `dir` and the directory itself: the programs
/// detach as the last reference to each link goes. Returns what it removed.
pub fn detach_all(dir: &Path) -> Result<Vec<PathBuf>, PinError> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let pins = list(dir)?;
    remove(&pins)?;
    std::fs::remove_dir(dir).map_err(|source| PinError::Io {
        what: "removing pin directory",
        path: dir.to_owned(),
        source,
    })?;
    Ok(pins)
}

pub fn remove(pins: &[PathBuf]) -> Result<(), PinError> {
    for pin in pins {
        std::fs::remove_file(pin).map_err(|source| PinError::Io {
            what: "removing pin",
            path: pin.clone(),
            source,
        })?;
    }
    Ok(())
}

fn list(dir: &Path) -> Result<Vec<PathBuf>, PinError> {
    let entries = std::fs::read_dir(dir).map_err(|source| PinError::Io {
        what: "listing pin directory",
        path: dir.to_owned(),
        source,
    })?;
    Ok(entries.filter_map(Result::ok).map(|e| e.path()).collect())
}

fn is_bpffs(path: &Path) -> bool {
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: `statfs` is a plain C struct for which all-zero is valid.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is NUL-terminated and `stat` is writable.
    let ret = unsafe { libc::statfs(c_path.as_ptr(), &raw mut stat) };
    ret == 0 && stat.f_type == BPF_FS_MAGIC
}

fn mount_bpffs(path: &Path) -> Result<(), PinError> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| {
        PinError::NotBpffs {
            path: path.to_owned(),
        }
    })?;
    // SAFETY: all pointers are NUL-terminated strings that outlive the call.
    let ret = unsafe {
        libc::mount(
            c"bpf".as_ptr(),
            c_path.as_ptr(),
            c"bpf".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if ret == 0 {
        tracing::info!(path = %path.display(), "mounted bpffs");
        Ok(())
    } else {
        Err(PinError::Io {
            what: "mounting bpffs on",
            path: path.to_owned(),
            source: std::io::Error::last_os_error(),
        })
    }
}
