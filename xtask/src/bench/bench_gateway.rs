//! The gateway under test: `gateway run --log-format json` as a child,
//! its log drained by a thread, ready once it logs "gateway ready".
//! Dropping it stops the gateway (SIGTERM) and detaches its pinned
//! programs (`gateway detach --pin-dir`).

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use super::gateway_log::GatewayLog;
use crate::step;

const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// The tracing target of the "gateway ready" line of `gateway run`.
const READY_LINE_TARGET: &str = "gateway::run";
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

pub struct BenchGateway {
    binary: PathBuf,
    pin_dir: PathBuf,
    child: Child,
    log: Arc<GatewayLog>,
    drain: Option<JoinHandle<()>>,
    listen_port: u16,
}

impl BenchGateway {
    /// Starts `binary run --config config` and waits until it is ready.
    /// `pin_dir` must be the config's, for the detach on drop; the log goes
    /// to the file `log_file`.
    pub fn start(binary: &Path, config: &Path, pin_dir: &Path, log_file: &Path) -> Result<Self> {
        let mut command = step::command(binary);
        command
            .args(["run", "--config"])
            .arg(config)
            .args(["--log-format", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(filter) = std::env::var("GATEWAY_LOG").ok().filter(|f| !f.is_empty()) {
            // A quieter filter (e.g. `warn`, to measure what logging costs)
            // would also hide "gateway ready"; keep that line, which comes
            // from `gateway run` itself and is logged once.
            command.env("GATEWAY_LOG", format!("{filter},{READY_LINE_TARGET}=info"));
        }
        step::say(format_args!(
            "starting the gateway: {}",
            step::describe(&command)
        ));
        let log = GatewayLog::create(log_file)?;
        let mut child = command
            .spawn()
            .with_context(|| format!("starting the gateway {}", binary.display()))?;
        let stderr = child
            .stderr
            .take()
            .context("the gateway's stderr is not a pipe")?;
        let (ready_tx, ready_rx) = mpsc::channel();
        // From here on the guard owns the child: any failure stops and detaches it.
        let mut gateway = Self {
            binary: binary.to_owned(),
            pin_dir: pin_dir.to_owned(),
            child,
            log,
            drain: None,
            listen_port: 0,
        };
        gateway.drain = Some(gateway.log.drain(stderr, ready_tx)?);
        gateway.listen_port = gateway.wait_ready(&ready_rx)?;
        Ok(gateway)
    }

    pub fn listen_port(&self) -> u16 {
        self.listen_port
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> &GatewayLog {
        &self.log
    }

    pub fn pin_dir(&self) -> &Path {
        &self.pin_dir
    }

    /// Fails if the gateway has exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        match self.child.try_wait().context("checking on the gateway")? {
            None => Ok(()),
            Some(status) => bail!(
                "the gateway exited ({status}); its last log lines:\n{}",
                self.log.tail()
            ),
        }
    }

    fn wait_ready(&mut self, ready: &mpsc::Receiver<u16>) -> Result<u16> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match ready.recv_timeout(Duration::from_millis(100)) {
                Ok(port) => return Ok(port),
                Err(RecvTimeoutError::Timeout) => {}
                // The log ended: the gateway is exiting; try_wait will see it.
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            self.ensure_running()
                .context("the gateway did not become ready")?;
            if Instant::now() > deadline {
                bail!(
                    "the gateway did not log \"gateway ready\" within {READY_TIMEOUT:?}; \
                     its last log lines:\n{}",
                    self.log.tail()
                );
            }
        }
    }

    fn stop(&mut self) {
        if !super::child_stop::terminate(&mut self.child, STOP_TIMEOUT) {
            step::say("the gateway did not stop on SIGTERM; it was killed");
        }
        // Its stderr is closed now, so the drain thread ends.
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
    }

    fn detach(&self) {
        let mut command = step::command(&self.binary);
        command.arg("detach").arg("--pin-dir").arg(&self.pin_dir);
        let failure = match command.stdin(Stdio::null()).output() {
            Ok(output) if output.status.success() => None,
            Ok(output) => Some(String::from_utf8_lossy(&output.stderr).trim().to_owned()),
            Err(error) => Some(error.to_string()),
        };
        if failure.is_some() || self.pin_dir.exists() {
            step::say(format_args!(
                "could not detach the benchmark's programs ({}); run `{}` by hand",
                failure
                    .as_deref()
                    .unwrap_or("the pin directory is still there"),
                step::describe(&command)
            ));
        }
    }
}

impl Drop for BenchGateway {
    fn drop(&mut self) {
        self.stop();
        self.detach();
    }
}

/// `GATEWAY_BIN` (as for the tests) benchmarks another build, e.g. a
/// candidate fix, without touching this tree; else build this tree's.
pub fn gateway_binary() -> Result<PathBuf> {
    match std::env::var_os("GATEWAY_BIN").filter(|bin| !bin.is_empty()) {
        Some(binary) => {
            crate::root::ensure()?;
            let binary = PathBuf::from(&binary)
                .canonicalize()
                .with_context(|| format!("finding GATEWAY_BIN {}", binary.display()))?;
            step::say(format_args!(
                "GATEWAY_BIN is set: benchmarking {} as it is (not building)",
                binary.display()
            ));
            Ok(binary)
        }
        None => crate::build::run(),
    }
}
