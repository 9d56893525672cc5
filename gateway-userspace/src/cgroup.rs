//! The cgroup v2 hierarchy: where it is mounted, agent cgroups, and the
//! processes in them.

use std::{
    fs::File,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("reading /proc/mounts: {0}")]
    Mounts(std::io::Error),
    #[error(
        "no cgroup v2 hierarchy is mounted (no `cgroup2` entry in /proc/mounts); the gateway needs cgroup v2"
    )]
    NoV2Mount,
    #[error("cgroup {path} does not exist (create it first, e.g. `mkdir -p {path}`)")]
    Missing { path: PathBuf },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The cgroup v2 mount point, such as `/sys/fs/cgroup` or, on hybrid
/// hosts, `/sys/fs/cgroup/unified`.
#[derive(Debug, Clone)]
pub struct CgroupRoot {
    mount: PathBuf,
}

/// A cgroup directory, with its id (the directory's inode number, which
/// is what `bpf_get_current_cgroup_id` returns).
#[derive(Debug, Clone)]
pub struct Cgroup {
    pub dir: PathBuf,
    pub id: u64,
}

impl CgroupRoot {
    pub fn discover() -> Result<Self, CgroupError> {
        let mounts = std::fs::read_to_string("/proc/mounts").map_err(CgroupError::Mounts)?;
        mounts
            .lines()
            .find_map(|line| {
                let mut fields = line.split_whitespace();
                let (_dev, mount, fstype) = (fields.next()?, fields.next()?, fields.next()?);
                (fstype == "cgroup2").then(|| unescape_mount(mount))
            })
            .map(|mount| Self { mount })
            .ok_or(CgroupError::NoV2Mount)
    }

    fn dir_of(&self, relative: &Path) -> PathBuf {
        self.mount
            .join(relative.strip_prefix("/").unwrap_or(relative))
    }

    /// Opens an existing cgroup.
    pub fn open(&self, relative: &Path) -> Result<Cgroup, CgroupError> {
        let dir = self.dir_of(relative);
        let meta = match std::fs::metadata(&dir) {
            Ok(meta) if meta.is_dir() => meta,
            Ok(_) => return Err(CgroupError::Missing { path: dir }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CgroupError::Missing { path: dir });
            }
            Err(source) => {
                return Err(CgroupError::Io {
                    what: "reading cgroup",
                    path: dir,
                    source,
                });
            }
        };
        Ok(Cgroup {
            id: meta.ino(),
            dir,
        })
    }

    /// Creates a cgroup (its parent must exist) and opens it.
    pub fn create(&self, relative: &Path) -> Result<Cgroup, CgroupError> {
        let dir = self.dir_of(relative);
        std::fs::create_dir(&dir).map_err(|source| CgroupError::Io {
            what: "creating cgroup",
            path: dir.clone(),
            source,
        })?;
        self.open(relative)
    }

    /// The cgroup of the calling process, below the mount (`0::/path`).
    pub fn own_cgroup() -> Result<PathBuf, CgroupError> {
        let path = Path::new("/proc/self/cgroup");
        let text = std::fs::read_to_string(path).map_err(|source| CgroupError::Io {
            what: "reading",
            path: path.to_owned(),
            source,
        })?;
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .map_or_else(|| PathBuf::from("/"), PathBuf::from))
    }
}

impl Cgroup {
    /// Opens the directory, for attaching programs.
    pub fn open_dir(&self) -> Result<File, CgroupError> {
        File::open(&self.dir).map_err(|source| CgroupError::Io {
            what: "opening cgroup",
            path: self.dir.clone(),
            source,
        })
    }

    /// This cgroup's directory and its descendants', parents before
    /// children.
    fn subtree(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        let mut stack = vec![self.dir.clone()];
        while let Some(dir) = stack.pop() {
            if let Ok(entries) = std::fs::read_dir(&dir) {
                stack.extend(
                    entries
                        .filter_map(Result::ok)
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.path()),
                );
            }
            dirs.push(dir);
        }
        dirs
    }

    /// Every process in this cgroup and its descendants.
    #[must_use]
    pub fn pids_recursive(&self) -> Vec<u32> {
        self.subtree()
            .iter()
            .filter_map(|dir| std::fs::read_to_string(dir.join("cgroup.procs")).ok())
            .flat_map(|text| {
                text.lines()
                    .filter_map(|l| l.trim().parse::<u32>().ok())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Kills every process in the subtree (`cgroup.kill`) and removes the
    /// directories, deepest first. For cgroups the gateway created itself.
    pub fn kill_and_remove(&self) -> Result<(), CgroupError> {
        let kill = self.dir.join("cgroup.kill");
        std::fs::write(&kill, "1").map_err(|source| CgroupError::Io {
            what: "writing",
            path: kill,
            source,
        })?;
        for dir in self.subtree().iter().rev() {
            // Killed tasks leave the cgroup asynchronously: retry briefly.
            let mut last = Ok(());
            for _ in 0..100 {
                last = std::fs::remove_dir(dir);
                if last.is_ok() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            last.map_err(|source| CgroupError::Io {
                what: "removing cgroup",
                path: dir.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

/// /proc/mounts escapes spaces and the like as octal (`\040`).
fn unescape_mount(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(v) = field
                .get(i + 1..i + 4)
                .and_then(|octal| u8::from_str_radix(octal, 8).ok())
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    PathBuf::from(std::ffi::OsString::from(
        <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&out),
    ))
}
