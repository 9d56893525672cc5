//! Named network namespaces (`ip netns add`) and veth links, as guards.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::Command;

/// Runs `ip ARGS`, panicking with its stderr if it fails.
pub fn ip(args: &[&str]) {
    if let Err(e) = try_ip(args) {
        panic!("{e}");
    }
}

/// Runs `ip ARGS`; the error says which command failed and why.
pub fn try_ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running ip: {e}"));
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A named network namespace with `lo` up; deleted on drop.
pub struct NetNs {
    name: String,
}

impl NetNs {
    pub fn new(name: &str) -> Self {
        crate::preflight::require_root();
        prepare_netns_dir();
        if PathBuf::from("/var/run/netns").join(name).exists() {
            let _ = try_ip(&["netns", "del", name]);
        }
        ip(&["netns", "add", name]);
        let ns = Self {
            name: name.to_owned(),
        };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/var/run/netns/<name>`, the handle `setns` takes.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/var/run/netns").join(&self.name)
    }

    /// Opens the namespace for `setns`.
    pub fn open(&self) -> File {
        File::open(self.path())
            .unwrap_or_else(|e| panic!("opening netns {}: {e}", self.path().display()))
    }

    /// Runs `ip -n <name> ARGS`.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// Interface names in the namespace (to check that it is what a test expects).
    pub fn links(&self) -> Vec<String> {
        let out = Command::new("ip")
            .args(["-n", &self.name, "-o", "link", "show"])
            .output()
            .expect("running ip link show");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(|s| s.trim().split('@').next().unwrap_or_default().to_owned())
            .collect()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(e) = try_ip(&["netns", "del", &self.name]) {
            eprintln!("warning: {e}");
        }
    }
}

/// The first `ip netns add` on a host bind-mounts /run/netns onto itself;
/// two of them racing hide each other's namespace files. Do it once, alone.
fn prepare_netns_dir() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let name = format!("gwtest-init-{}", std::process::id());
        ip(&["netns", "add", &name]);
        ip(&["netns", "del", &name]);
    });
}

/// Moves the calling thread into `ns` for good. Meant for a thread spawned to
/// serve inside the namespace: sockets it creates afterwards belong there.
pub fn enter_for_this_thread(ns: &File) {
    // SAFETY: the fd is a valid, open netns file for the whole call; setns only
    // changes the calling thread's namespace.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    assert!(
        rc == 0,
        "setns(CLONE_NEWNET): {}",
        std::io::Error::last_os_error()
    );
}

/// A veth link whose host end lives in the host namespace; deleting it on
/// drop removes the peer too.
pub struct HostVeth {
    name: String,
}

impl HostVeth {
    /// Creates `host` + `peer`; `Err` if the name is taken (so callers can
    /// use creation as an atomic claim of a number).
    pub fn try_new(host: &str, peer: &str) -> Result<Self, String> {
        try_ip(&["link", "add", host, "type", "veth", "peer", "name", peer])?;
        Ok(Self {
            name: host.to_owned(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for HostVeth {
    fn drop(&mut self) {
        if let Err(e) = try_ip(&["link", "del", &self.name]) {
            eprintln!("warning: {e}");
        }
    }
}
