//! Headless Chromium (Debian's `chromium`) driven over the `DevTools`
//! protocol on a pipe (`--remote-debugging-pipe`: commands on fd 3,
//! answers on fd 4, each a JSON message ending in NUL), so the test needs
//! no WebSocket client and opens no debugging port.
//!
//! The browser runs in a network namespace the test made (only `lo`), so
//! whatever it tries on its own cannot leave the machine.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::netns::NetNs;
use crate::tempdir::TempDir;

const CALL_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Chromium {
    child: Child,
    commands: File,
    messages: mpsc::Receiver<Value>,
    next_id: u64,
    session: String,
    /// Console messages, exceptions and log entries of the page, for
    /// failure messages and for checks (CSP violations land here).
    pub console: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
    _profile: TempDir,
}

/// Panics unless Debian's chromium is installed (`cargo xtask setup`).
pub fn require_chromium() -> &'static str {
    let found = Command::new("chromium").arg("--version").output();
    assert!(
        found.as_ref().is_ok_and(|o| o.status.success()),
        "chromium is not installed (`apt-get install chromium`, or `cargo xtask setup`): {found:?}"
    );
    "chromium"
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just created and are owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

impl Chromium {
    /// Starts the browser in `ns` with one blank page attached.
    pub fn start_in(ns: &NetNs) -> Self {
        let program = require_chromium();
        let profile = TempDir::new("chromium-profile");
        let (command_read, command_write) = pipe();
        let (answer_read, answer_write) = pipe();
        let netns = ns.open();
        let (netns_fd, cmd_fd, ans_fd) = (
            netns.as_raw_fd(),
            command_read.as_raw_fd(),
            answer_write.as_raw_fd(),
        );
        let mut command = Command::new(program);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-pipe",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-default-apps",
                "--no-pings",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: only async-signal-safe calls (setpgid, setns, fcntl,
        // dup2) on descriptors opened before the fork.
        unsafe {
            command.pre_exec(move || {
                let check = |rc: libc::c_int| {
                    if rc < 0 {
                        Err(std::io::Error::last_os_error())
                    } else {
                        Ok(rc)
                    }
                };
                check(libc::setpgid(0, 0))?;
                check(libc::setns(netns_fd, libc::CLONE_NEWNET))?;
                // Move both ends out of the way first, in case either is 3 or 4.
                let cmd = check(libc::fcntl(cmd_fd, libc::F_DUPFD_CLOEXEC, 10))?;
                let ans = check(libc::fcntl(ans_fd, libc::F_DUPFD_CLOEXEC, 10))?;
                check(libc::dup2(cmd, 3))?;
                check(libc::dup2(ans, 4))?;
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program}: {e}"));
        drop((command_read, answer_write, netns));
        let stderr = crate::client::drain(child.stderr.take().expect("piped"));
        let (sender, messages) = mpsc::channel();
        let mut answers = File::from(answer_read);
        std::thread::spawn(move || {
            let mut pending = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = answers.read(&mut buf) {
                if n == 0 {
                    break;
                }
                pending.extend_from_slice(&buf[..n]);
                while let Some(end) = pending.iter().position(|b| *b == 0) {
                    let message: Vec<u8> = pending.drain(..=end).collect();
                    if let Ok(value) = serde_json::from_slice(&message[..end])
                        && sender.send(value).is_err()
                    {
                        return;
                    }
                }
            }
        });
        let mut browser = Self {
            child,
            commands: File::from(command_write),
            messages,
            next_id: 0,
            session: String::new(),
            console: Vec::new(),
            stderr: Some(stderr),
            _profile: profile,
        };
        let target = browser.send(None, "Target.createTarget", &json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().expect("targetId").to_owned();
        let attached = browser.send(
            None,
            "Target.attachToTarget",
            &json!({"targetId": target_id, "flatten": true}),
        );
        attached["sessionId"]
            .as_str()
            .expect("sessionId")
            .clone_into(&mut browser.session);
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            browser.call(domain, &json!({}));
        }
        browser
    }

    fn send(&mut self, session: Option<&str>, method: &str, params: &Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message).expect("JSON");
        bytes.push(0);
        self.commands
            .write_all(&bytes)
            .unwrap_or_else(|e| panic!("sending {method} to chromium: {e}"));
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(answer) = self.messages.recv_timeout(left) else {
                panic!("chromium did not answer {method} within {CALL_TIMEOUT:?}");
            };
            if answer["id"] == json!(id) {
                if let Some(error) = answer.get("error") {
                    panic!("chromium refused {method}: {error}");
                }
                return answer["result"].clone();
            }
            self.note_event(&answer);
        }
    }

    fn note_event(&mut self, event: &Value) {
        let params = &event["params"];
        let line = match event["method"].as_str() {
            Some("Runtime.consoleAPICalled") => {
                format!("console.{}: {}", params["type"], params["args"])
            }
            Some("Runtime.exceptionThrown") => format!("exception: {}", params["exceptionDetails"]),
            Some("Log.entryAdded") => format!(
                "log {}: {}",
                params["entry"]["level"], params["entry"]["text"]
            ),
            _ => return,
        };
        self.console.push(line);
    }

    /// A command to the page.
    pub fn call(&mut self, method: &str, params: &Value) -> Value {
        let session = self.session.clone();
        self.send(Some(&session), method, params)
    }

    /// Opens `url` and waits until its document has loaded.
    pub fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", &json!({"url": url}));
        std::thread::sleep(Duration::from_millis(100));
        self.wait_until(
            "the page to load",
            "document.readyState === 'complete'",
            Duration::from_secs(10),
        );
    }

    /// The value of `expression` in the page (promises awaited).
    pub fn evaluate(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            &json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(details) = result.get("exceptionDetails") {
            panic!("evaluating {expression}: {details}\n{}", self.report());
        }
        result["result"]["value"].clone()
    }

    /// Polls `expression` until it is truthy; returns its value.
    pub fn wait_until(&mut self, what: &str, expression: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.evaluate(expression);
            let truthy = !matches!(value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("");
            if truthy {
                return value;
            }
            assert!(
                Instant::now() <= deadline,
                "timed out waiting for {what} ({expression})\n{}",
                self.report()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The page's text and console, for failure messages.
    pub fn report(&mut self) -> String {
        let text = self.call(
            "Runtime.evaluate",
            &json!({"expression": "document.documentElement ? document.documentElement.innerText : ''", "returnByValue": true}),
        );
        format!(
            "page text:\n{}\nconsole:\n{}",
            text["result"]["value"].as_str().unwrap_or(""),
            self.console.join("\n")
        )
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // The whole process group: the browser and its helpers.
        if let Ok(pgid) = i32::try_from(self.child.id()) {
            // SAFETY: kill has no memory-safety preconditions; the group is our child's.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
        let _ = self.child.wait();
        if std::thread::panicking() {
            let stderr = self
                .stderr
                .take()
                .and_then(|h| h.join().ok())
                .unwrap_or_default();
            let start = stderr.char_indices().rev().nth(4000).map_or(0, |(i, _)| i);
            let tail = &stderr[start..];
            eprintln!(
                "chromium console:\n{}\nchromium stderr (end):\n{tail}",
                self.console.join("\n")
            );
        }
    }
}
