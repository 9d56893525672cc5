//! nginx, the floor of any TLS-terminating proxy on this machine: a
//! reverse proxy in C on OpenSSL with no policy, no audit and no logging
//! (`config.rs`), found or fetched by `install.rs`. It runs in the
//! foreground (`daemon off`) as a master process and one worker per CPU;
//! its CPU time and memory are those of all of them together.

mod config;
mod install;

use std::fs::{self, File};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

pub use self::install::{Installed, ensure_installed};
use super::super::process_tree;
use super::bench_ca::BenchCaFiles;
use super::worker::fd_hard_limit;
use crate::bench::scratch_files::write;
use crate::step;

const START_TIMEOUT: Duration = Duration::from_secs(10);
/// nginx's fast shutdown waits for its workers, escalating to SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Modules whose temporary-file directive the config sets when the build
/// has them, so that nginx writes nothing outside its directory.
const OTHER_TEMP_MODULES: [&str; 3] = ["fastcgi", "uwsgi", "scgi"];

/// A running nginx; stopped (SIGTERM, then SIGKILL to it and its
/// workers) on drop. Its directory goes with the scratch directory.
pub struct Nginx {
    child: Child,
    addr: SocketAddr,
    error_log: PathBuf,
    output: PathBuf,
    /// The processes' command name (`comm`), which tells its workers from
    /// processes that reused their pids.
    name: Option<String>,
}

impl Nginx {
    /// Starts it on 127.0.0.1:`port` with its files in `dir` (created),
    /// proxying to `upstream`, and waits until it accepts connections
    /// and has its workers.
    pub fn start(
        installed: &Installed,
        port: u16,
        dir: &Path,
        upstream: SocketAddr,
        tls: &BenchCaFiles,
    ) -> Result<Self> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let other_temp_modules: Vec<&str> = OTHER_TEMP_MODULES
            .into_iter()
            .filter(|module| installed.has_http_module(module))
            .collect();
        let conf = dir.join("nginx.conf");
        write(
            &conf,
            &config::text(&config::NginxSettings {
                dir,
                listen: addr,
                upstream,
                tls,
                other_temp_modules: &other_temp_modules,
                open_files: fd_hard_limit(),
            }),
        )?;
        let error_log = dir.join("error.log");
        let output = dir.join("output.log");
        let output_file =
            File::create(&output).with_context(|| format!("creating {}", output.display()))?;
        let mut command = step::command(&installed.binary);
        // `-e`: the error log before the config is read, which would
        // otherwise be the build's default (stderr or /var/log/nginx).
        command
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(&error_log)
            .stdin(Stdio::null())
            .stdout(
                output_file
                    .try_clone()
                    .context("duplicating a descriptor")?,
            )
            .stderr(output_file);
        step::say(format_args!("starting nginx: {}", step::describe(&command)));
        let child = command.spawn().context("starting nginx")?;
        let mut nginx = Self {
            child,
            addr,
            error_log,
            output,
            name: None,
        };
        nginx.wait_ready()?;
        nginx.name = process_tree::command_name(nginx.child.id());
        Ok(nginx)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().context("checking on nginx")? {
                bail!("nginx exited ({status}); its output:\n{}", self.log_text());
            }
            if self.pids().len() > 1
                && TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "nginx did not listen on {} with its workers within {START_TIMEOUT:?}; its output:\n{}",
                    self.addr,
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its error log and anything it printed.
    pub fn log_text(&self) -> String {
        let read = |path: &Path| fs::read_to_string(path).unwrap_or_default();
        format!("{}{}", read(&self.output), read(&self.error_log))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The master, then its workers.
    pub fn pids(&self) -> Vec<u32> {
        process_tree::with_children(self.child.id())
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let workers: Vec<u32> = self.pids().into_iter().skip(1).collect();
        // The master first (if killed, before its workers: it would start
        // new workers for killed ones).
        crate::bench::child_stop::terminate(&mut self.child, STOP_TIMEOUT);
        // A worker the master did not take down (it was killed) is an
        // orphan now; the name guards against a pid reused meanwhile.
        for worker in workers {
            if self.name.is_some() && process_tree::command_name(worker) == self.name {
                let pid = libc::pid_t::try_from(worker).unwrap_or(libc::pid_t::MAX);
                // SAFETY: as above; the pid was one of nginx's workers and
                // still has its name, so it is not a process that reused it.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}
