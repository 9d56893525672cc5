//! mitmproxy, the reference peer: installed from `PyPI` into a venv under
//! `target/bench/venv` (once; later runs reuse it), run as `mitmdump`, an
//! explicit proxy on 127.0.0.1 with a fresh confdir (where it makes its CA
//! on start), verifying the upstream with the bench CA, streaming large
//! bodies instead of buffering them, and logging no flows.

use std::fs::{self, File};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::{step, workspace};

const START_TIMEOUT: Duration = Duration::from_mins(1);
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Bodies above this are streamed through, not buffered (mitmproxy's
/// default buffers every body whole, which no one would run a 512 MiB
/// download through).
const STREAM_LARGE_BODIES: &str = "1m";

/// The installed `mitmdump` and its version line.
pub struct Installed {
    pub mitmdump: PathBuf,
    pub version: String,
}

/// Makes sure `target/bench/venv` has mitmproxy; installs it if not.
pub fn ensure_installed() -> Result<Installed> {
    let venv = workspace::target_dir().join("bench").join("venv");
    let mitmdump = venv.join("bin").join("mitmdump");
    if let Ok(version) = version(&mitmdump) {
        step::say(format_args!("mitmproxy: {version} in {}", venv.display()));
        return Ok(Installed { mitmdump, version });
    }
    let python = venv.join("bin").join("python3");
    if !python.is_file() {
        let system_python = step::find_program("python3").context(
            "mitmproxy needs python3 (with venv); install it, e.g. `apt-get install python3-venv`",
        )?;
        fs::create_dir_all(venv.parent().unwrap_or(&venv))
            .with_context(|| format!("creating {}", venv.display()))?;
        step::run(
            step::command(system_python).args(["-m", "venv"]).arg(&venv),
            "creating a Python venv for mitmproxy",
            "install Python's venv module (`apt-get install python3-venv`)",
        )?;
    }
    step::run(
        step::command(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "mitmproxy",
        ]),
        "installing mitmproxy from PyPI",
        "check that PyPI is reachable; remove target/bench/venv to start over",
    )?;
    let version = version(&mitmdump)?;
    step::say(format_args!("installed {version}"));
    Ok(Installed { mitmdump, version })
}

fn version(mitmdump: &Path) -> Result<String> {
    if !mitmdump.is_file() {
        bail!("{} is not installed", mitmdump.display());
    }
    let output = step::stdout(
        step::command(mitmdump).arg("--version"),
        "asking mitmdump its version",
        "remove target/bench/venv and run again",
    )?;
    Ok(output
        .lines()
        .next()
        .unwrap_or("mitmproxy ?")
        .trim()
        .to_owned())
}

/// A running `mitmdump`; stopped (SIGTERM, then SIGKILL) on drop.
pub struct Mitmdump {
    child: Child,
    addr: SocketAddr,
    ca_cert: PathBuf,
    log: PathBuf,
}

impl Mitmdump {
    /// Starts it on 127.0.0.1:`port` with `confdir` (created) and waits
    /// until it accepts connections and has written its CA.
    pub fn start(
        mitmdump: &Path,
        port: u16,
        confdir: &Path,
        upstream_ca: &Path,
        log: &Path,
    ) -> Result<Self> {
        fs::create_dir_all(confdir).with_context(|| format!("creating {}", confdir.display()))?;
        let log_file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = step::command(mitmdump);
        command
            .args(["--listen-host", "127.0.0.1", "--listen-port"])
            .arg(port.to_string())
            .arg("--set")
            .arg(format!("confdir={}", confdir.display()))
            .arg("--set")
            .arg(format!(
                "ssl_verify_upstream_trusted_ca={}",
                upstream_ca.display()
            ))
            .arg("--set")
            .arg(format!("stream_large_bodies={STREAM_LARGE_BODIES}"))
            .args(["--flow-detail", "0", "--set", "termlog_verbosity=warn"])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().context("duplicating a descriptor")?)
            .stderr(log_file);
        step::say(format_args!(
            "starting mitmproxy: {}",
            step::describe(&command)
        ));
        let child = command.spawn().context("starting mitmdump")?;
        let mut proxy = Self {
            child,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            ca_cert: confdir.join("mitmproxy-ca-cert.pem"),
            log: log.to_owned(),
        };
        proxy.wait_ready()?;
        Ok(proxy)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().context("checking on mitmdump")? {
                bail!(
                    "mitmdump exited ({status}); its output:\n{}",
                    self.log_text()
                );
            }
            if self.ca_cert.is_file()
                && TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "mitmdump did not listen on {} within {START_TIMEOUT:?}; its output:\n{}",
                    self.addr,
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its CA's certificate, which the clients on its route trust.
    pub fn ca_cert(&self) -> &Path {
        &self.ca_cert
    }
}

impl Drop for Mitmdump {
    fn drop(&mut self) {
        crate::bench::child_stop::terminate(&mut self.child, STOP_TIMEOUT);
    }
}
