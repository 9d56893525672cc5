//! Container fixtures: a busybox root filesystem (from the host's
//! busybox-static), its tarball for `docker import`, and a private dockerd.
//!
//! Both runtimes need `--ulimit nofile=1024:1024 --ulimit nproc=1024:1024`
//! here, and podman needs `--runtime runc` (crun refuses hybrid cgroups).

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::{Run, TimedCommand};
use crate::tempdir::TempDir;

/// Flags every container run needs on this host.
pub const ULIMITS: [&str; 4] = [
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
];

/// Builds `<dir>/rootfs` with /bin/busybox and a relative symlink per applet.
pub fn busybox_rootfs(dir: &Path) -> PathBuf {
    let busybox = which("busybox");
    let rootfs = dir.join("rootfs");
    for sub in ["bin", "dev", "proc", "sys", "tmp", "etc", "root"] {
        std::fs::create_dir_all(rootfs.join(sub)).expect("creating rootfs dirs");
    }
    std::fs::copy(&busybox, rootfs.join("bin/busybox"))
        .unwrap_or_else(|e| panic!("copying {}: {e}", busybox.display()));
    let list = Command::new(&busybox)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            symlink("busybox", rootfs.join("bin").join(applet))
                .unwrap_or_else(|e| panic!("symlink for applet {applet}: {e}"));
        }
    }
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
        .expect("writing /etc/passwd");
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\n").expect("writing /etc/group");
    rootfs
}

/// `tar` of the rootfs, for `docker import`.
pub fn rootfs_tarball(rootfs: &Path) -> PathBuf {
    let tarball = rootfs.with_file_name("rootfs.tar");
    let run = TimedCommand::new("tar")
        .arg("-C")
        .arg(rootfs)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .run();
    assert!(run.success(), "creating the rootfs tarball: {run:#?}");
    tarball
}

/// Absolute path of a program on PATH.
pub fn which(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not installed (not on PATH)"))
}

/// A dockerd of our own: private data root, exec root and socket, no
/// iptables, no bridge. Stopped and cleaned up on drop.
pub struct Dockerd {
    child: Option<Child>,
    socket: PathBuf,
    dir: TempDir,
}

impl Dockerd {
    pub fn start(tag: &str) -> Self {
        let dir = TempDir::new(tag);
        let socket = dir.path().join("docker.sock");
        let config = dir.write("daemon.json", "{}\n");
        let log = std::fs::File::create(dir.path().join("dockerd.log")).expect("dockerd log");
        let child = Command::new(which("dockerd"))
            .arg("--config-file")
            .arg(&config)
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("--pidfile")
            .arg(dir.path().join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--exec-opt",
                "native.cgroupdriver=cgroupfs",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting dockerd: {e}"));
        let mut dockerd = Self {
            child: Some(child),
            socket,
            dir,
        };
        dockerd.wait_ready();
        dockerd
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_mins(1);
        loop {
            if self.docker(&["version"]).success() {
                return;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("try_wait"));
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "dockerd did not come up (exit: {exited:?}); its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `docker -H unix://<our socket> ARGS`.
    pub fn command(&self) -> TimedCommand {
        TimedCommand::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .timeout(Duration::from_mins(1))
    }

    pub fn docker(&self, args: &[&str]) -> Run {
        self.command().args(args).run()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = i32::try_from(child.id()).expect("pid fits i32");
            // SAFETY: kill has no memory-safety preconditions; pid is our unreaped child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // Overlay mounts under the data root would make the temp dir undeletable.
        let _ = Command::new("umount")
            .arg("-R")
            .arg("-l")
            .arg(self.dir.path().join("data"))
            .stderr(Stdio::null())
            .status();
    }
}
