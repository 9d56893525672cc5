//! The approvals web page served by the real binary over an in-memory desk
//! (`gateway approvals-web-demo`, hidden test support): the test adds
//! approvals on its standard input and reads every desk event (creations,
//! decisions) from its standard output.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::netns::NetNs;
use crate::tempdir::TempDir;

pub struct WebDemo {
    child: Child,
    stdin: Option<ChildStdin>,
    events: mpsc::Receiver<Value>,
    /// Every desk event printed so far.
    pub seen: Vec<Value>,
    pub addr: SocketAddr,
    stderr: Option<std::thread::JoinHandle<String>>,
    state: TempDir,
}

impl WebDemo {
    /// Serves the page on 127.0.0.1 of `ns` (the host's when `None`), on
    /// `port` (0: any free port).
    pub fn start(ns: Option<&NetNs>, port: u16) -> Self {
        let bin = crate::preflight::require_root_and_gateway();
        let state = TempDir::new("approval-web-state");
        let mut command = Command::new(&bin);
        command
            .arg("approvals-web-demo")
            .arg("--state-dir")
            .arg(state.path())
            .args(["--port", &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let netns = ns.map(NetNs::open);
        if let Some(fd) = netns.as_ref().map(AsRawFd::as_raw_fd) {
            // SAFETY: setns is async-signal-safe; the fd stays open until after spawn.
            unsafe {
                command.pre_exec(move || {
                    if libc::setns(fd, libc::CLONE_NEWNET) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {} approvals-web-demo: {e}", bin.display()));
        drop(netns);
        let stderr = crate::client::drain(child.stderr.take().expect("piped"));
        let stdout = child.stdout.take().expect("piped");
        let (sender, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| json!({"unparsed": line, "error": e.to_string()}));
                if sender.send(value).is_err() {
                    break;
                }
            }
        });
        let mut demo = Self {
            stdin: child.stdin.take(),
            child,
            events,
            seen: Vec::new(),
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            stderr: Some(stderr),
            state,
        };
        let listening = demo.wait_for("the page to listen", |e| e["event"] == "listening");
        demo.addr = listening["addr"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {listening}"));
        demo
    }

    /// The directory holding `web.token`.
    pub fn state_dir(&self) -> &std::path::Path {
        self.state.path()
    }

    /// The token the page made in its state directory.
    pub fn token(&self) -> String {
        let path = self.state.path().join("web.token");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
            .trim()
            .to_owned()
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    /// Adds a pending approval, as the request path would.
    pub fn add(&mut self, approval: &Value) {
        let stdin = self.stdin.as_mut().expect("open");
        writeln!(stdin, "{approval}").expect("writing to approvals-web-demo");
        stdin.flush().expect("flushing approvals-web-demo's input");
    }

    /// The first desk event (seen before or arriving within 10 s) for which
    /// `matches` holds.
    pub fn wait_for(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        if let Some(found) = self.seen.iter().find(|e| matches(e)) {
            return found.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) => {
                    self.seen.push(event.clone());
                    if matches(&event) {
                        return event;
                    }
                }
                Err(error) => panic!(
                    "approvals-web-demo: no event for {what} within 10 s ({error}); events: {:#?}",
                    self.seen
                ),
            }
        }
    }

    /// Everything printed so far, without waiting.
    pub fn drain_events(&mut self) -> &[Value] {
        while let Ok(event) = self.events.try_recv() {
            self.seen.push(event);
        }
        &self.seen
    }
}

impl Drop for WebDemo {
    fn drop(&mut self) {
        // End of input ends the demo; kill it if it lingers.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking()
            && let Some(stderr) = self.stderr.take().and_then(|h| h.join().ok())
        {
            eprintln!("approvals-web-demo stderr:\n{stderr}");
        }
    }
}

/// A pending approval as the desk shows it (`ApprovalView` in JSON).
pub fn approval(id: &str, method: &str, path_and_query: &str) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    let now = u64::try_from(now).expect("fits");
    json!({
        "id": id,
        "agent": "coder",
        "method": method,
        "scheme": "https",
        "host": "api.test.example",
        "port": 443,
        "path_and_query": path_and_query,
        "headers": [["content-type", "application/json"], ["authorization", "[redacted]"]],
        "body_preview": "{\"title\":\"release 1.2\"}",
        "body_len": 23,
        "body_sha256": "5e".repeat(32),
        "rule": "issues-write",
        "reason": "opening issues needs a person",
        "status": "pending",
        "created_unix_ms": now - 5_000,
        "expires_unix_ms": now + 600_000,
        "decided_by": null,
        "decided_via": null,
        "decision_reason": null,
    })
}
