//! Reading `/proc/mounts`: where the cgroup v2 hierarchy is mounted (never
//! assumed to be /sys/fs/cgroup) and whether bpffs is mounted.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

const PROC_MOUNTS: &str = "/proc/mounts";

/// One line of `/proc/mounts`.
#[derive(Debug, PartialEq, Eq)]
#[expect(
    clippy::struct_field_names,
    reason = "mount point is what fstab(5) and /proc/mounts call the field"
)]
pub struct Mount {
    /// The device or other source (`/dev/vda`, `tmpfs`).
    pub source: String,
    pub mount_point: PathBuf,
    pub fs_type: String,
}

/// All current mounts.
pub fn read() -> Result<Vec<Mount>> {
    let text = fs::read_to_string(PROC_MOUNTS).with_context(|| format!("reading {PROC_MOUNTS}"))?;
    Ok(parse(&text))
}

/// The first cgroup2 mount point.
pub fn cgroup2_mount() -> Result<PathBuf> {
    let mounts = read()?;
    match mounts.into_iter().find(|mount| mount.fs_type == "cgroup2") {
        Some(mount) => Ok(mount.mount_point),
        None => bail!(
            "no cgroup2 filesystem in {PROC_MOUNTS}; the gateway attaches to cgroup v2 only. \
             Mount one, e.g. `mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 none \
             /sys/fs/cgroup/unified`, or boot with a cgroup v2 (unified) hierarchy"
        ),
    }
}

/// The mount that holds `path`: the longest mount point above it.
pub fn holding<'a>(mounts: &'a [Mount], path: &Path) -> Option<&'a Mount> {
    mounts
        .iter()
        .filter(|mount| path.starts_with(&mount.mount_point))
        .max_by_key(|mount| mount.mount_point.as_os_str().len())
}

/// Whether a filesystem of `fs_type` is mounted at `mount_point`.
pub fn is_mounted(mounts: &[Mount], mount_point: &Path, fs_type: &str) -> bool {
    mounts
        .iter()
        .any(|mount| mount.mount_point == mount_point && mount.fs_type == fs_type)
}

fn parse(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let source = unescape(fields.next()?);
            let mount_point = unescape(fields.next()?);
            let fs_type = fields.next()?.to_owned();
            Some(Mount {
                source,
                mount_point: PathBuf::from(mount_point),
                fs_type,
            })
        })
        .collect()
}

/// Undoes the kernel's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)))
            .and_then(|digits| u8::from_str_radix(std::str::from_utf8(digits).ok()?, 8).ok());
        if let Some(byte) = octal {
            out.push(byte);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
bpf /sys/fs/bpf bpf rw,relatime 0 0
/dev/sda1 /mnt/with\\040space ext4 rw 0 0
";

    #[test]
    fn finds_cgroup2_wherever_it_is() {
        let mounts = parse(SAMPLE);
        let cgroup2 = mounts.iter().find(|m| m.fs_type == "cgroup2").unwrap();
        assert_eq!(cgroup2.mount_point, Path::new("/sys/fs/cgroup/unified"));
    }

    #[test]
    fn sees_bpffs_only_with_the_right_type() {
        let mounts = parse(SAMPLE);
        assert!(is_mounted(&mounts, Path::new("/sys/fs/bpf"), "bpf"));
        assert!(!is_mounted(&mounts, Path::new("/sys/fs/cgroup"), "bpf"));
    }

    #[test]
    fn unescapes_octal_sequences() {
        let mounts = parse(SAMPLE);
        assert!(is_mounted(&mounts, Path::new("/mnt/with space"), "ext4"));
        assert_eq!(unescape("a\\134b"), "a\\b");
        assert_eq!(unescape("trailing\\04"), "trailing\\04");
    }

    #[test]
    fn the_longest_mount_point_above_a_path_holds_it() {
        let mounts = parse(&format!("/dev/vda / ext4 rw 0 0\n{SAMPLE}"));
        let holding = |path: &str| holding(&mounts, Path::new(path)).map(|m| m.source.as_str());
        assert_eq!(holding("/mnt/with space/target/bench"), Some("/dev/sda1"));
        assert_eq!(holding("/sys/fs/cgroup/unified/agents"), Some("cgroup2"));
        assert_eq!(holding("/work/main"), Some("/dev/vda"));
        assert_eq!(
            holding("/mnt/with"),
            Some("/dev/vda"),
            "a prefix of a name is not above it"
        );
    }
}
