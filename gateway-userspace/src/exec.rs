//! `gateway exec`: run one command as an agent under its own gateway.
//!
//! The command starts in a fresh cgroup that already has the programs
//! attached, so it is covered from its first instruction. When it ends,
//! anything it left running is killed, the programs are detached and the
//! cgroup is removed.

use std::{
    fs::OpenOptions,
    io::Write as _,
    os::{
        fd::AsRawFd as _,
        unix::{fs::PermissionsExt as _, process::CommandExt as _, process::ExitStatusExt as _},
    },
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use anyhow::Context as _;

use crate::{
    bpf::{KernelLogLevel, pins},
    cgroup::CgroupRoot,
    config::{AgentConfig, Config, TlsSettings},
    gateway,
    policy::Policy,
    privileges::require_root,
    resolve::ResolverSettings,
    tls::{CaError, CertificateAuthority},
    vault::{self, KEY_ENV, Placeholder},
};

const CAP_NET_RAW: libc::c_ulong = 13;

/// Settings of `gateway exec` besides the command.
pub struct ExecOptions<'a> {
    pub policy: Option<&'a Path>,
    pub listen_port: u16,
    pub state_dir: PathBuf,
    /// The agent name the command runs as (which placeholders it gets).
    pub agent: String,
    pub tls: TlsSettings,
    pub resolver: ResolverSettings,
}

pub fn exec(options: ExecOptions<'_>, command: &[String]) -> anyhow::Result<ExitCode> {
    require_root()?;
    let ExecOptions {
        policy,
        listen_port,
        state_dir,
        agent,
        tls,
        resolver,
    } = options;
    let placeholders = vault::placeholders_for(&state_dir, &agent)?;
    let policy_path = policy.map(Path::to_owned);
    let policy = if let Some(path) = policy {
        Policy::load(path)?
    } else {
        tracing::warn!("no --policy given: every connection of the command is denied");
        Policy::default()
    };
    let root = CgroupRoot::discover()?;
    let kernel_log = KernelLogLevel::from_env().map_err(anyhow::Error::msg)?;
    let id = std::process::id();
    let relative = PathBuf::from(format!("/gateway-exec-{id}"));
    let cgroup = root.create(&relative)?;
    let config = Config {
        listen_port,
        pin_dir: PathBuf::from(format!("/sys/fs/bpf/gateway-exec-{id}")),
        db_dir: state_dir.join(format!("exec-{id}")),
        state_dir,
        agents: vec![AgentConfig {
            name: agent,
            cgroup: relative,
            policy,
            policy_path,
        }],
        tls,
        resolver,
        // No web page for a one-off command: several may run at once.
        approvals: crate::approvals::ApprovalSettings {
            web_port: None,
            ..crate::approvals::ApprovalSettings::default()
        },
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let outcome = runtime.block_on(async {
        let running = gateway::start(&config, &root, kernel_log)?;
        tracing::info!(listen_port = running.listen_port, "gateway ready");
        let procs = cgroup.dir.join("cgroup.procs");
        let trust = AgentTrust::install(&config.tls.ca_dir, id)?;
        let status = run_in_cgroup(command, &procs, trust.as_ref(), &placeholders).await?;
        drop(trust);
        running.stop().await;
        Ok::<_, anyhow::Error>(status)
    });
    // Clean up whatever happened: no process left unprotected, nothing
    // left attached.
    let killed = cgroup.kill_and_remove();
    let detached = pins::detach_all(&config.pin_dir);
    let status = outcome?;
    killed.context("removing the command's cgroup")?;
    detached.context("detaching the command's programs")?;
    Ok(exit_code(status))
}

/// Variables that common clients read for the CA bundle they trust:
/// OpenSSL-based tools and Python's ssl (`SSL_CERT_FILE`), requests,
/// curl, git, Node (which adds to its own roots) and the AWS SDKs.
const TRUST_VARIABLES: [&str; 6] = [
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "NODE_EXTRA_CA_CERTS",
    "AWS_CA_BUNDLE",
];

/// A world-readable copy of the gateway CA's certificate for the command
/// (the CA directory itself is root-only), removed when dropped.
struct AgentTrust {
    path: PathBuf,
}

impl AgentTrust {
    /// `None` when there is no CA: TLS is then not intercepted.
    fn install(ca_dir: &Path, id: u32) -> anyhow::Result<Option<Self>> {
        let pem = match CertificateAuthority::read_cert_pem(ca_dir) {
            Ok(pem) => pem,
            Err(CaError::ReadCert { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(None);
            }
            Err(error) => return Err(error.into()),
        };
        let path = std::env::temp_dir().join(format!("gateway-exec-{id}-ca.pem"));
        std::fs::write(&path, pem).with_context(|| format!("writing {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("making {} readable", path.display()))?;
        Ok(Some(Self { path }))
    }
}

impl Drop for AgentTrust {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn run_in_cgroup(
    command: &[String],
    procs: &Path,
    trust: Option<&AgentTrust>,
    placeholders: &[(String, Placeholder)],
) -> anyhow::Result<std::process::ExitStatus> {
    let procs_file = OpenOptions::new()
        .write(true)
        .open(procs)
        .with_context(|| format!("opening {}", procs.display()))?;
    let procs_fd = procs_file.as_raw_fd();
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..]);
    if let Some(trust) = trust {
        for variable in TRUST_VARIABLES {
            cmd.env(variable, &trust.path);
        }
    }
    // The agent gets placeholders, never the vault key.
    cmd.env_remove(KEY_ENV).env_remove("CREDENTIALS_DIRECTORY");
    for (name, placeholder) in placeholders {
        cmd.env(name, placeholder.as_str());
    }
    // SAFETY: the closure runs in the child between fork and exec, and
    // only makes async-signal-safe system calls (`write` on a descriptor
    // opened before the fork, `prctl`). Writing "0" moves the writer
    // itself into the cgroup; dropping CAP_NET_RAW from the bounding set
    // keeps the command, even as root, from opening packet sockets, which
    // no cgroup hook sees.
    unsafe {
        cmd.pre_exec(move || {
            let mut file =
                std::mem::ManuallyDrop::new(std::fs::File::from_raw_fd_unchecked(procs_fd));
            file.write_all(b"0")?;
            if libc::prctl(libc::PR_CAPBSET_DROP, CAP_NET_RAW, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {:?}", command[0]))?;
    drop(procs_file);
    let pid = child.id();
    let mut wait = tokio::task::spawn_blocking(move || child.wait());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    loop {
        tokio::select! {
            status = &mut wait => return Ok(status.context("waiting for the command")??),
            _ = term.recv() => forward(pid, libc::SIGTERM),
            _ = int.recv() => forward(pid, libc::SIGINT),
        }
    }
}

fn forward(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: sending a signal to our own child; no memory involved.
        unsafe { libc::kill(pid, signal) };
    }
}

fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    let code = status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

trait FromRawFdUnchecked {
    /// # Safety
    /// `fd` must be open for the lifetime of the returned value, which
    /// must not close it (wrap it in `ManuallyDrop`).
    unsafe fn from_raw_fd_unchecked(fd: i32) -> Self;
}

impl FromRawFdUnchecked for std::fs::File {
    unsafe fn from_raw_fd_unchecked(fd: i32) -> Self {
        // SAFETY: upheld by the caller.
        unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) }
    }
}
