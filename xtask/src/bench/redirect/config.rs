//! The files the benchmark's gateway runs from: a config naming the agent
//! cgroup, and a policy allowing exactly the echo server. They live in a
//! scratch directory (with the gateway's log) removed on drop.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

pub use crate::bench::scratch_files::free_listen_port;
use crate::bench::scratch_files::write;

pub struct BenchConfig {
    dir: PathBuf,
    config: PathBuf,
    pin_dir: PathBuf,
}

impl BenchConfig {
    /// Writes `<tmp>/gwbench-<pid>/{gateway.toml,policy.toml}`.
    pub fn write(pid: u32, agent_cgroup: &str, listen_port: u16, echo: SocketAddr) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("gwbench-{pid}"));
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let pin_dir = PathBuf::from(format!("/sys/fs/bpf/gwbench-{pid}"));
        let files = Self {
            config: dir.join("gateway.toml"),
            dir,
            pin_dir,
        };
        let config = format!(
            "# Written by `cargo xtask bench redirect`; removed when it ends.\n\
             [gateway]\n\
             listen_port = {listen_port}\n\
             pin_dir = {pin_dir:?}\n\
             state_dir = \"state\"\n\n\
             [[agents]]\n\
             name = \"bench\"\n\
             cgroup = {agent_cgroup:?}\n\
             policy = \"policy.toml\"\n",
            pin_dir = files.pin_dir.display().to_string(),
        );
        let policy = format!(
            "[[rules]]\n\
             name = \"bench-echo\"\n\
             action = \"allow\"\n\
             hosts = [\"{}\"]\n\
             ports = [{}]\n",
            echo.ip(),
            echo.port()
        );
        write(&files.config, &config)?;
        write(&files.dir.join("policy.toml"), &policy)?;
        Ok(files)
    }

    pub fn config(&self) -> &Path {
        &self.config
    }

    /// Where the gateway's log is kept while the benchmark runs.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("gateway.log")
    }

    pub fn pin_dir(&self) -> &Path {
        &self.pin_dir
    }
}

impl Drop for BenchConfig {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}
