//! The gateway under test as a child process (`gateway run`), as a guard.
//!
//! Start writes a config and a policy into a temp dir, runs
//! `$GATEWAY_BIN run --config FILE --log-format json`, and waits for
//! "gateway ready". Drop stops it (SIGTERM), runs `gateway detach --pin-dir`
//! and checks that the pin dir is gone, so no test leaves links attached.

pub mod config;
pub mod log;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::cgroup::AgentCgroup;
use crate::client::{Run, TimedCommand};
use crate::tempdir::TempDir;
use config::{GatewayOptions, Rule};

/// The state directory the harness gives every gateway, inside its temp dir.
pub const STATE_SUBDIR: &str = "state";
pub use log::{LogBook, LogLine};

/// How long the gateway may take to load, attach and listen.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The agent name the harness writes into every config.
pub const AGENT_NAME: &str = "agent";

pub struct Gateway {
    child: Option<Child>,
    logs: LogBook,
    listen_port: u16,
    pin_dir: PathBuf,
    config: PathBuf,
    policy: PathBuf,
    state_dir: PathBuf,
    detached: bool,
    _dir: TempDir,
}

impl Gateway {
    /// Starts a gateway for one agent cgroup with `rules` as its policy, and
    /// waits until it is ready.
    pub fn start(tag: &str, agent: &AgentCgroup, rules: &[Rule]) -> Self {
        let files = GatewayFiles::write(tag, agent, rules);
        Self::start_from(files)
    }

    /// Same, with TLS and resolver settings.
    pub fn start_with(
        tag: &str,
        agent: &AgentCgroup,
        rules: &[Rule],
        options: &GatewayOptions,
    ) -> Self {
        let files =
            GatewayFiles::write_with(tag, agent.relative(), &config::policy_toml(rules), options);
        Self::start_from(files)
    }

    /// Starts a gateway from files prepared by [`GatewayFiles::write`].
    /// It logs with [`LOG_FILTER`].
    pub fn start_from(files: GatewayFiles) -> Self {
        let (child, logs) = spawn(&files.config);
        let mut gateway = Self {
            child: Some(child),
            logs,
            listen_port: files.listen_port,
            pin_dir: files.pin_dir,
            config: files.config,
            policy: files.policy,
            state_dir: files.state_dir,
            detached: false,
            _dir: files.dir,
        };
        gateway.wait_ready();
        gateway
    }

    /// Starts the gateway again with the same files, after [`Self::kill9`]
    /// or [`Self::terminate`]; the log starts afresh.
    pub fn restart(&mut self) {
        assert!(
            self.child.is_none(),
            "restart: the gateway is still running"
        );
        let (child, logs) = spawn(&self.config);
        self.child = Some(child);
        self.logs = logs;
        self.wait_ready();
    }

    /// The gateway's state directory (database, admin socket).
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// `gateway ARGS… --state-dir DIR`, as root (the admin CLI).
    pub fn cli(&self, args: &[&str]) -> Run {
        TimedCommand::new(crate::preflight::gateway_bin())
            .args(args)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .timeout(Duration::from_secs(30))
            .run()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if self
                .logs
                .wait_for(
                    |l| l.message() == "gateway ready",
                    Duration::from_millis(200),
                )
                .is_some()
            {
                return;
            }
            let child = self.child.as_mut().expect("running");
            if let Some(status) = child.try_wait().expect("try_wait") {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "gateway exited ({status}) before logging \"gateway ready\"\n{}",
                    self.logs.dump()
                );
            }
            assert!(
                Instant::now() < deadline,
                "gateway did not log \"gateway ready\" within {READY_TIMEOUT:?}\n{}",
                self.logs.dump()
            );
        }
    }

    pub fn listen_port(&self) -> u16 {
        self.listen_port
    }

    pub fn pin_dir(&self) -> &Path {
        &self.pin_dir
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// The agent's policy file (edit it to test reloading).
    pub fn policy_path(&self) -> &Path {
        &self.policy
    }

    /// The gateway's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("gateway still running").id()
    }

    /// Asserts the gateway process is still running.
    pub fn assert_running(&mut self) {
        let child = self.child.as_mut().expect("gateway still running");
        let status = child.try_wait().expect("try_wait");
        assert!(
            status.is_none(),
            "the gateway exited ({status:?})\n{}",
            self.logs.dump()
        );
    }

    pub fn logs(&self) -> Vec<LogLine> {
        self.logs.lines()
    }

    /// Every line printed so far, for assertion messages.
    pub fn dump(&self) -> String {
        self.logs.dump()
    }

    /// Waits for a line matching `predicate`; panics with the whole log on timeout.
    pub fn wait_for_log(
        &self,
        what: &str,
        predicate: impl Fn(&LogLine) -> bool,
        timeout: Duration,
    ) -> LogLine {
        self.logs.wait_for(predicate, timeout).unwrap_or_else(|| {
            panic!(
                "gateway did not log {what} within {timeout:?}\n{}",
                self.logs.dump()
            )
        })
    }

    /// Waits for `message` with `dst` exactly as given.
    pub fn wait_for_event(&self, message: &str, dst: &str) -> LogLine {
        self.wait_for_log(
            &format!("{message:?} with dst={dst:?}"),
            |l| l.is_event_for(message, dst),
            Duration::from_secs(5),
        )
    }

    /// Waits for a per-request event (`request allowed`, `request denied`,
    /// `request needs approval`) for this method, host and path, and checks
    /// that it names the agent, a rule and a request id.
    pub fn wait_for_request(&self, message: &str, method: &str, host: &str, path: &str) -> LogLine {
        let line = self.wait_for_log(
            &format!("{message:?} for {method} {host}{path}"),
            |l| {
                l.message() == message
                    && l.field("method").as_deref() == Some(method)
                    && l.field("host").as_deref() == Some(host)
                    && l.field("path").as_deref() == Some(path)
            },
            Duration::from_secs(5),
        );
        assert_eq!(line.field("agent").as_deref(), Some(AGENT_NAME), "{line:?}");
        assert!(
            line.field("rule").is_some_and(|r| !r.is_empty())
                && line.field("request_id").is_some_and(|r| !r.is_empty()),
            "a request event names its rule and request id: {line:?}"
        );
        line
    }

    /// Asserts that no line so far mentions `needle` (after a short settle time).
    pub fn assert_no_log_mentioning(&self, needle: &str, why: &str) {
        std::thread::sleep(Duration::from_millis(500));
        let hits: Vec<String> = self
            .logs()
            .into_iter()
            .filter(|l| l.raw.contains(needle))
            .map(|l| l.raw)
            .collect();
        assert!(
            hits.is_empty(),
            "{why}: the gateway logged lines mentioning {needle:?}: {hits:#?}"
        );
    }

    /// Kills the gateway with SIGKILL (links stay pinned) and reaps it.
    pub fn kill9(&mut self) {
        let child = self.child.as_mut().expect("gateway still running");
        child.kill().expect("SIGKILL the gateway");
        child.wait().expect("reaping the gateway");
        self.child = None;
    }

    /// Sends SIGTERM and waits for the exit (at most 10 s).
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("gateway still running");
        let status = terminate(&mut child);
        status.unwrap_or_else(|| {
            panic!(
                "gateway did not exit within 10 s of SIGTERM\n{}",
                self.dump()
            )
        })
    }

    /// Runs `gateway detach --pin-dir DIR` and asserts that it worked.
    pub fn detach(&mut self) -> Run {
        self.detached = true;
        let run = detach_pin_dir(&self.pin_dir);
        assert!(run.success(), "gateway detach failed: {run:#?}");
        assert!(
            !self.pin_dir.exists(),
            "gateway detach left the pin dir {} behind: {run:#?}",
            self.pin_dir.display()
        );
        run
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take()
            && terminate(&mut child).is_none()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.detached && !self.pin_dir.exists() {
            return;
        }
        let run = detach_pin_dir(&self.pin_dir);
        let left = self.pin_dir.exists();
        if left {
            // Do not leave links attached to the host even if detach is broken.
            let _ = std::fs::remove_dir_all(&self.pin_dir);
        }
        if !std::thread::panicking() {
            assert!(
                run.success() && !left,
                "cleanup: `gateway detach --pin-dir {}` failed or left the pin dir: {run:#?}",
                self.pin_dir.display()
            );
        }
    }
}

/// Runs `$GATEWAY_BIN run --config CONFIG --log-format json`, following its output.
fn spawn(config: &Path) -> (Child, LogBook) {
    let bin = crate::preflight::require_root_and_gateway();
    let mut child = Command::new(&bin)
        .args(["run", "--config"])
        .arg(config)
        .args(["--log-format", "json"])
        .env("GATEWAY_LOG", LOG_FILTER)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let logs = LogBook::default();
    logs.follow(child.stderr.take().expect("piped"));
    logs.follow(child.stdout.take().expect("piped"));
    (child, logs)
}

/// SIGTERM, then wait up to 10 s; `None` if it is still running.
fn terminate(child: &mut Child) -> Option<ExitStatus> {
    let pid = i32::try_from(child.id()).expect("pid fits i32");
    // SAFETY: kill has no memory-safety preconditions; pid is our unreaped child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// The gateway's log filter in tests: the default (`info`) plus the
/// per-request lines (`request allowed` is at debug level, to keep it off
/// the hot path of production gateways) that tests wait for.
pub const LOG_FILTER: &str = "info,gateway::intercept::request=debug";

/// `gateway detach --pin-dir DIR`.
pub fn detach_pin_dir(pin_dir: &Path) -> Run {
    TimedCommand::new(crate::preflight::gateway_bin())
        .args(["detach", "--pin-dir"])
        .arg(pin_dir)
        .run()
}

/// A config + policy written to a temp dir, not yet started.
pub struct GatewayFiles {
    pub dir: TempDir,
    pub config: PathBuf,
    pub policy: PathBuf,
    pub listen_port: u16,
    pub pin_dir: PathBuf,
    pub state_dir: PathBuf,
}

impl GatewayFiles {
    pub fn write(tag: &str, agent: &AgentCgroup, rules: &[Rule]) -> Self {
        Self::write_for_cgroup(tag, agent.relative(), rules)
    }

    /// Like [`GatewayFiles::write`] for any cgroup path (e.g. one that does not exist).
    pub fn write_for_cgroup(tag: &str, cgroup: &str, rules: &[Rule]) -> Self {
        Self::write_with(
            tag,
            cgroup,
            &config::policy_toml(rules),
            &GatewayOptions::default(),
        )
    }

    /// A config for `cgroup` with `policy` (the file's text) and `options`.
    pub fn write_with(tag: &str, cgroup: &str, policy: &str, options: &GatewayOptions) -> Self {
        Self::write_agents(tag, &[(AGENT_NAME, cgroup, policy)], options)
    }

    /// A config for several `(name, cgroup, policy text)` agents; the
    /// first agent's policy is `policy.toml`, the others' `policy-<name>.toml`.
    pub fn write_agents(
        tag: &str,
        agents: &[(&str, &str, &str)],
        options: &GatewayOptions,
    ) -> Self {
        let dir = TempDir::new(tag);
        let listen_port = crate::unique::free_listen_port();
        let pin_dir = PathBuf::from("/sys/fs/bpf")
            .join(format!("{}-{listen_port}", crate::unique::name(tag)));
        let mut entries = Vec::new();
        let mut first_policy = None;
        for (i, (name, cgroup, text)) in agents.iter().enumerate() {
            let file = if i == 0 {
                "policy.toml".to_owned()
            } else {
                format!("policy-{name}.toml")
            };
            let path = dir.write(&file, text);
            first_policy.get_or_insert(path);
            entries.push(((*name).to_owned(), (*cgroup).to_owned(), file));
        }
        let entries: Vec<(&str, &str, &str)> = entries
            .iter()
            .map(|(n, c, f)| (n.as_str(), c.as_str(), f.as_str()))
            .collect();
        let mut options = options.clone();
        let state_dir = options
            .state_dir
            .get_or_insert_with(|| dir.path().join(STATE_SUBDIR))
            .clone();
        let config = dir.write(
            "gateway.toml",
            &config::config_toml_agents(listen_port, &pin_dir, &entries, &options),
        );
        Self {
            dir,
            config,
            policy: first_policy.expect("at least one agent"),
            listen_port,
            pin_dir,
            state_dir,
        }
    }
}
