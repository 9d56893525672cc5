//! The scratch directory of `bench https` and the gateway's files in it:
//! a CA made by `gateway ca init`, a policy allowing GET on the upstream
//! (checked with `gateway policy check`), and a config that trusts the
//! bench CA for upstreams and maps the upstream's name to 127.0.0.1.
//! Everything is removed on drop.

use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

pub use crate::bench::scratch_files::free_listen_port;
use crate::bench::scratch_files::write;

use super::bench_ca::SERVER_NAME;
use crate::step;

/// `<tmp>/gwbench-https-<pid>`, removed on drop.
pub struct ScratchDir {
    dir: PathBuf,
}

impl ScratchDir {
    pub fn create(pid: u32) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("gwbench-https-{pid}"));
        if dir.exists() {
            fs::remove_dir_all(&dir)
                .with_context(|| format!("removing the leftover {}", dir.display()))?;
        }
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self { dir })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The gateway's files inside the scratch directory.
pub struct GatewayFiles {
    pub config: PathBuf,
    pub pin_dir: PathBuf,
    /// The CA's certificate, which the clients on the gateway route trust.
    pub ca_cert: PathBuf,
    pub log: PathBuf,
}

/// What goes into the gateway's config.
pub struct GatewaySettings<'a> {
    pub agent_cgroup: &'a str,
    pub listen_port: u16,
    pub upstream_port: u16,
    pub upstream_ca: &'a Path,
}

impl GatewayFiles {
    pub fn write(
        gateway: &Path,
        scratch: &ScratchDir,
        settings: &GatewaySettings<'_>,
    ) -> Result<Self> {
        let dir = scratch.path();
        let ca_dir = dir.join("gateway-ca");
        step::stdout(
            step::command(gateway)
                .args(["ca", "init", "--dir"])
                .arg(&ca_dir),
            "creating the gateway's CA",
            "check that GATEWAY_BIN is a gateway with TLS interception (`gateway ca init`)",
        )?;
        let ca_cert = ca_dir.join("ca.pem");
        if !ca_cert.is_file() {
            bail!(
                "`gateway ca init --dir {}` made no ca.pem",
                ca_dir.display()
            );
        }

        let policy = dir.join("policy.toml");
        write(
            &policy,
            &format!(
                "# Written by `cargo xtask bench https`; removed when it ends.\n\
                 [[rules]]\n\
                 name = \"bench-get\"\n\
                 action = \"allow\"\n\
                 hosts = [\"{SERVER_NAME}\"]\n\
                 ports = [{}]\n\
                 methods = [\"GET\"]\n",
                settings.upstream_port
            ),
        )?;
        step::stdout(
            step::command(gateway)
                .args(["policy", "check"])
                .arg(&policy),
            "checking the benchmark's policy",
            "the policy format changed: update xtask/src/bench/https/config.rs",
        )?;

        let pin_dir = PathBuf::from(format!("/sys/fs/bpf/gwbench-https-{}", std::process::id()));
        let config = dir.join("gateway.toml");
        write(
            &config,
            &format!(
                "# Written by `cargo xtask bench https`; removed when it ends.\n\
                 [gateway]\n\
                 listen_port = {listen_port}\n\
                 pin_dir = {pin_dir:?}\n\
                 ca_dir = {ca_dir:?}\n\
                 upstream_ca_file = {upstream_ca:?}\n\
                 state_dir = \"state\"\n\n\
                 [resolver.hosts]\n\
                 {SERVER_NAME:?} = [\"127.0.0.1\"]\n\n\
                 [[agents]]\n\
                 name = \"bench\"\n\
                 cgroup = {agent_cgroup:?}\n\
                 policy = \"policy.toml\"\n",
                listen_port = settings.listen_port,
                pin_dir = pin_dir.display().to_string(),
                ca_dir = ca_dir.display().to_string(),
                upstream_ca = settings.upstream_ca.display().to_string(),
                agent_cgroup = settings.agent_cgroup,
            ),
        )?;
        Ok(Self {
            config,
            pin_dir,
            ca_cert,
            log: dir.join("gateway.log"),
        })
    }
}

/// A free port on 127.0.0.1 (for mitmproxy).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
