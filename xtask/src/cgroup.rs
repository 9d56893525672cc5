//! Creating the agents' cgroups below the cgroup v2 mount.

use std::fs;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::step;

/// `<mount>/<cgroup>`, refusing paths that would leave the hierarchy.
pub fn path_below(mount: &Path, cgroup: &str) -> Result<PathBuf> {
    let relative = Path::new(cgroup.trim_start_matches('/'));
    let mut path = mount.to_path_buf();
    for component in relative.components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            _ => {
                bail!("cgroup {cgroup:?} must be a plain path below the cgroup v2 mount (no `..`)")
            }
        }
    }
    Ok(path)
}

/// Creates the cgroup directory (and its parents) when it does not exist.
pub fn ensure(path: &Path) -> Result<()> {
    if path.is_dir() {
        step::say(format_args!("cgroup {} exists", path.display()));
        return Ok(());
    }
    step::say(format_args!("creating cgroup {}", path.display()));
    fs::create_dir_all(path).with_context(|| {
        format!(
            "creating cgroup {}; it must be on the cgroup v2 mount and we must be root",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_below_the_mount() {
        let mount = Path::new("/sys/fs/cgroup/unified");
        assert_eq!(
            path_below(mount, "/agents/one").unwrap(),
            Path::new("/sys/fs/cgroup/unified/agents/one")
        );
        assert_eq!(
            path_below(mount, "agents").unwrap(),
            Path::new("/sys/fs/cgroup/unified/agents")
        );
    }

    #[test]
    fn refuses_to_leave_the_mount() {
        assert!(path_below(Path::new("/sys/fs/cgroup/unified"), "/agents/../../etc").is_err());
    }
}
