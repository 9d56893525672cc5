//! Running a command with a timeout, as an agent would: inside a cgroup
//! and, optionally, inside a network namespace.
//!
//! The child joins the cgroup (writes "0" to `cgroup.procs`) and enters the
//! namespace (`setns`) between fork and exec, so the program's very first
//! connect is already covered. This is what `sh -c 'echo $$ > …/cgroup.procs
//! && exec ip netns exec NS CMD'` does, without the shell.

use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::netns::NetNs;

/// What a finished (or killed) command left behind.
#[derive(Debug)]
pub struct Run {
    pub command: String,
    /// Exit code; `None` if killed by a signal (also on timeout).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub elapsed: Duration,
}

impl Run {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics with the whole record unless the command exited 0.
    #[must_use]
    pub fn expect_success(self, what: &str) -> Self {
        assert!(self.success(), "{what}: command failed: {self:#?}");
        self
    }
}

pub struct TimedCommand {
    command: Command,
    display: String,
    cgroup_procs: Option<CString>,
    netns: Option<File>,
    timeout: Duration,
    stdin: Option<Vec<u8>>,
}

impl TimedCommand {
    pub fn new(program: impl AsRef<std::ffi::OsStr>) -> Self {
        let program = program.as_ref();
        Self {
            command: Command::new(program),
            display: program.to_string_lossy().into_owned(),
            cgroup_procs: None,
            netns: None,
            timeout: Duration::from_secs(20),
            stdin: None,
        }
    }

    #[must_use]
    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Self {
        let arg = arg.as_ref();
        self.display.push(' ');
        self.display.push_str(&arg.to_string_lossy());
        self.command.arg(arg);
        self
    }

    #[must_use]
    pub fn args<S: AsRef<std::ffi::OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    /// Sets an environment variable for the command.
    #[must_use]
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        let value = value.as_ref();
        self.display = format!("{key}={} {}", value.to_string_lossy(), self.display);
        self.command.env(key, value);
        self
    }

    /// Run the command as a member of this cgroup (absolute directory).
    #[must_use]
    pub fn in_cgroup(mut self, cgroup_dir: &Path) -> Self {
        let procs = cgroup_dir.join("cgroup.procs");
        self.display = format!("[cgroup {}] {}", cgroup_dir.display(), self.display);
        self.cgroup_procs =
            Some(CString::new(procs.as_os_str().as_bytes()).expect("no NUL in a path"));
        self
    }

    /// Run the command inside this network namespace.
    #[must_use]
    pub fn in_netns(mut self, ns: &NetNs) -> Self {
        self.display = format!("[netns {}] {}", ns.name(), self.display);
        self.netns = Some(ns.open());
        self
    }

    /// Feeds these bytes to the command's standard input (else /dev/null).
    #[must_use]
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn run(mut self) -> Run {
        let cgroup_procs = self.cgroup_procs.take();
        let netns_fd = self.netns.as_ref().map(AsRawFd::as_raw_fd);
        // SAFETY: the closure only makes async-signal-safe syscalls (setpgid,
        // open, write, close, setns) on data prepared before the fork.
        unsafe {
            self.command.pre_exec(move || {
                if libc::setpgid(0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if let Some(procs) = &cgroup_procs {
                    join_cgroup(procs)?;
                }
                if let Some(fd) = netns_fd
                    && libc::setns(fd, libc::CLONE_NEWNET) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let started = Instant::now();
        let stdin = if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        let mut child = self
            .command
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting `{}`: {e}", self.display));
        if let (Some(bytes), Some(mut pipe)) = (self.stdin.take(), child.stdin.take()) {
            std::thread::spawn(move || {
                let _ = std::io::Write::write_all(&mut pipe, &bytes);
            });
        }
        let stdout = drain(child.stdout.take().expect("piped"));
        let stderr = drain(child.stderr.take().expect("piped"));
        let pgid = i32::try_from(child.id()).expect("pid fits i32");
        let mut timed_out = false;
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for child") {
                break status;
            }
            if started.elapsed() > self.timeout {
                timed_out = true;
                // SAFETY: kill has no memory-safety preconditions; the group is our child's.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                break child.wait().expect("waiting for killed child");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let elapsed = started.elapsed();
        Run {
            command: self.display,
            code: status.code(),
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader")
                + &status
                    .signal()
                    .map(|s| format!("\n[killed by signal {s}]"))
                    .unwrap_or_default(),
            timed_out,
            elapsed,
        }
    }
}

/// Writes "0" (= the writing process) to `cgroup.procs`; async-signal-safe.
fn join_cgroup(procs: &CString) -> std::io::Result<()> {
    // SAFETY: `procs` is a valid NUL-terminated path; the fd is closed below.
    let fd = unsafe { libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: writes one byte from a static buffer to the fd opened above.
    let written = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) };
    let err = std::io::Error::last_os_error();
    // SAFETY: fd was opened above and is not used afterwards.
    unsafe { libc::close(fd) };
    if written == 1 { Ok(()) } else { Err(err) }
}

/// Reads a pipe to its end on a thread.
pub fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}
