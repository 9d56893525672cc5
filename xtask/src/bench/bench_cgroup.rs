//! A cgroup that exists for one benchmark run: created below the cgroup v2
//! mount, emptied (cgroup.kill) and removed when dropped.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use crate::step;

pub struct BenchCgroup {
    dir: PathBuf,
    name: String,
}

impl BenchCgroup {
    /// Creates `<mount>/<name>`; fails if it already exists (a leftover
    /// that someone else may be using).
    pub fn create(mount: &Path, name: &str) -> Result<Self> {
        let dir = mount.join(name);
        if dir.exists() {
            bail!(
                "cgroup {} already exists; if no benchmark is running, remove it with \
                 `echo 1 > {0}/cgroup.kill; rmdir {0}`",
                dir.display()
            );
        }
        fs::create_dir(&dir).with_context(|| format!("creating cgroup {}", dir.display()))?;
        Ok(Self {
            dir,
            name: name.to_owned(),
        })
    }

    /// Its directory (what a process writes its pid below to join).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its path below the mount, as the gateway config names it (`/name`).
    pub fn path_below_mount(&self) -> String {
        format!("/{}", self.name)
    }
}

impl Drop for BenchCgroup {
    fn drop(&mut self) {
        let procs = self.dir.join("cgroup.procs");
        let has_processes =
            |procs: &Path| fs::read_to_string(procs).is_ok_and(|p| !p.trim().is_empty());
        if has_processes(&procs) {
            // cgroup.kill (Linux 5.14+) SIGKILLs every process in it at once.
            let _ = fs::write(self.dir.join("cgroup.kill"), "1");
        }
        // Killed processes leave the cgroup asynchronously; rmdir fails
        // with EBUSY until they have.
        for _ in 0..100 {
            if fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        step::say(format_args!(
            "could not remove cgroup {}; remove it by hand: `echo 1 > {0}/cgroup.kill; rmdir {0}`",
            self.dir.display()
        ));
    }
}
