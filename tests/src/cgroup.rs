//! cgroup v2: finding the mount, and a guard for a test's agent cgroup.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The cgroup v2 mount point, from /proc/mounts (never assumed).
pub fn cgroup2_mount() -> PathBuf {
    mounts_of_type("cgroup2")
        .into_iter()
        .next()
        .expect("no cgroup2 filesystem in /proc/mounts: the gateway needs cgroup v2")
}

/// Mount points of the cgroup v1 hierarchies, if the host runs hybrid cgroups.
/// Container runtimes mirror `--cgroup-parent` into each of them.
pub fn cgroup1_mounts() -> Vec<PathBuf> {
    mounts_of_type("cgroup")
}

fn mounts_of_type(fstype: &str) -> Vec<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/mounts").expect("reading /proc/mounts");
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_dev, dir, kind) = (fields.next()?, fields.next()?, fields.next()?);
            (kind == fstype).then(|| PathBuf::from(dir))
        })
        .collect()
}

/// A uniquely named cgroup directly below the v2 mount. On drop, every
/// process in it (and below) is killed and the directories are removed,
/// deepest first, including mirrors a container runtime made in v1 hierarchies.
pub struct AgentCgroup {
    path: PathBuf,
    relative: String,
}

impl AgentCgroup {
    pub fn new(tag: &str) -> Self {
        crate::preflight::require_root();
        let name = crate::unique::name(tag);
        let path = cgroup2_mount().join(&name);
        if path.exists() {
            remove_tree(&path);
        }
        std::fs::create_dir(&path)
            .unwrap_or_else(|e| panic!("creating cgroup {}: {e}", path.display()));
        Self {
            path,
            relative: format!("/{name}"),
        }
    }

    /// Absolute directory of the cgroup.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path below the v2 mount, as the gateway config and `--cgroup-parent` want it.
    pub fn relative(&self) -> &str {
        &self.relative
    }

    /// Creates (mkdir) a child cgroup and returns its directory.
    pub fn create_child(&self, name: &str) -> PathBuf {
        let child = self.path.join(name);
        std::fs::create_dir_all(&child)
            .unwrap_or_else(|e| panic!("creating child cgroup {}: {e}", child.display()));
        child
    }

    /// Relative paths (below the v2 mount) of every cgroup below this one.
    pub fn descendants(&self) -> Vec<String> {
        let mount = cgroup2_mount();
        let mut out = Vec::new();
        for dir in dirs_deepest_first(&self.path) {
            if dir != self.path {
                let rel = dir.strip_prefix(&mount).expect("below the mount");
                out.push(format!("/{}", rel.display()));
            }
        }
        out
    }
}

impl Drop for AgentCgroup {
    fn drop(&mut self) {
        remove_tree(&self.path);
        for v1 in cgroup1_mounts() {
            let mirror = v1.join(self.relative.trim_start_matches('/'));
            if mirror.exists() {
                remove_tree(&mirror);
            }
        }
    }
}

/// Kills everything in the tree (v2 only has cgroup.kill) and removes it.
fn remove_tree(root: &Path) {
    let kill = root.join("cgroup.kill");
    if kill.exists() {
        let _ = std::fs::write(&kill, "1");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut left = Vec::new();
        for dir in dirs_deepest_first(root) {
            if let Err(e) = std::fs::remove_dir(&dir) {
                left.push(format!("{}: {e}", dir.display()));
            }
        }
        if left.is_empty() || !root.exists() {
            return;
        }
        if Instant::now() > deadline {
            eprintln!("warning: could not remove cgroups: {}", left.join("; "));
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn dirs_deepest_first(root: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    collect_dirs(root, &mut all);
    all.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    all
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    out.push(dir.to_path_buf());
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_dirs(&entry.path(), out);
        }
    }
}
