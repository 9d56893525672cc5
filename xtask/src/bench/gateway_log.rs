//! The gateway's JSON log lines (its standard error).
//!
//! A thread drains the pipe so that the gateway never blocks writing, and
//! appends what it reads to a file, in large chunks: that keeps the
//! reader's own cost (it shares the CPUs with what is measured, and xtask
//! usually runs unoptimised) small and the same per byte. Lines are looked
//! at only to find "gateway ready" and, after the measurements, to count
//! what the gateway logged between two positions of the file.

use std::fs::File;
use std::io::{BufRead as _, BufReader, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::process::ChildStderr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use anyhow::{Context as _, Result};
use serde::Serialize;

/// Bytes of the log's end kept in memory for error messages.
const TAIL_BYTES: usize = 4096;

/// The drained log: how much so far, the file it went to, its last bytes.
pub struct GatewayLog {
    path: PathBuf,
    /// Taken by the draining thread.
    file: Mutex<Option<File>>,
    drained: AtomicU64,
    tail: Mutex<Vec<u8>>,
}

/// A position in the log (bytes drained so far).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogPosition(u64);

/// What the gateway logged in some span.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LogCounts {
    pub lines: u64,
    pub bytes: u64,
    /// "connection allowed"
    pub allowed: u64,
    /// "connection denied"
    pub denied: u64,
    /// "connection refused: …" (no original destination, unknown agent)
    pub refused: u64,
    /// "upstream connect failed"
    pub upstream_failed: u64,
    /// Lines at level WARN or ERROR.
    pub warnings: u64,
}

impl LogCounts {
    #[must_use]
    pub fn plus(self, other: Self) -> Self {
        Self {
            lines: self.lines + other.lines,
            bytes: self.bytes + other.bytes,
            allowed: self.allowed + other.allowed,
            denied: self.denied + other.denied,
            refused: self.refused + other.refused,
            upstream_failed: self.upstream_failed + other.upstream_failed,
            warnings: self.warnings + other.warnings,
        }
    }

    fn record(&mut self, line: &str) {
        self.lines += 1;
        self.bytes += line.len() as u64;
        if line.contains(r#""level":"WARN""#) || line.contains(r#""level":"ERROR""#) {
            self.warnings += 1;
        }
        match message(line) {
            Some(m) if m.starts_with("connection allowed") => self.allowed += 1,
            Some(m) if m.starts_with("connection denied") => self.denied += 1,
            Some(m) if m.starts_with("connection refused") => self.refused += 1,
            Some(m) if m.starts_with("upstream connect failed") => self.upstream_failed += 1,
            _ => {}
        }
    }
}

impl GatewayLog {
    /// Creates the file at `path` that the log will go to.
    pub fn create(path: &Path) -> Result<Arc<Self>> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Arc::new(Self {
            path: path.to_owned(),
            file: Mutex::new(Some(file)),
            drained: AtomicU64::new(0),
            tail: Mutex::new(Vec::with_capacity(2 * TAIL_BYTES)),
        }))
    }

    /// Starts draining `stderr` into the file; the `listen_port` of the
    /// "gateway ready" line is sent on `ready`.
    pub fn drain(
        self: &Arc<Self>,
        stderr: ChildStderr,
        ready: mpsc::Sender<u16>,
    ) -> Result<JoinHandle<()>> {
        let file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .context("the gateway log is drained already")?;
        let log = Arc::clone(self);
        std::thread::Builder::new()
            .name("gateway-log".to_owned())
            .spawn(move || log.run(stderr, file, &ready))
            .context("starting the thread that reads the gateway's log")
    }

    fn run(&self, mut stderr: ChildStderr, mut file: File, ready: &mpsc::Sender<u16>) {
        let mut buffer = vec![0u8; 256 * 1024];
        let mut waiting_for_ready = true;
        let mut partial_line = Vec::new();
        loop {
            let n = match stderr.read(&mut buffer) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let chunk = &buffer[..n];
            if file.write_all(chunk).is_err() {
                return;
            }
            if waiting_for_ready {
                partial_line.extend_from_slice(chunk);
                if let Some(port) = ready_port_in(&partial_line) {
                    let _ = ready.send(port);
                    waiting_for_ready = false;
                    partial_line = Vec::new();
                }
            }
            let mut tail = self
                .tail
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            tail.extend_from_slice(chunk);
            if tail.len() > 2 * TAIL_BYTES {
                let excess = tail.len() - TAIL_BYTES;
                tail.drain(..excess);
            }
            drop(tail);
            self.drained.fetch_add(n as u64, Ordering::SeqCst);
        }
    }

    /// Everything drained so far ends before this position.
    pub fn position(&self) -> LogPosition {
        LogPosition(self.drained.load(Ordering::SeqCst))
    }

    /// The last lines, for error messages.
    pub fn tail(&self) -> String {
        let tail = self
            .tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let text = String::from_utf8_lossy(&tail);
        let mut out = String::new();
        for line in text
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            out.push_str("    ");
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    /// What was logged between two positions (whole lines starting in it).
    pub fn count(&self, from: LogPosition, to: LogPosition) -> Result<LogCounts> {
        let mut file = File::open(&self.path)
            .with_context(|| format!("opening the gateway log {}", self.path.display()))?;
        file.seek(SeekFrom::Start(from.0))?;
        let mut counts = LogCounts::default();
        let mut reader = BufReader::new(file.take(to.0.saturating_sub(from.0)));
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(counts);
            }
            counts.record(&line);
        }
    }
}

/// The text after `"message":"` (no JSON parsing per line).
fn message(line: &str) -> Option<&str> {
    const KEY: &str = r#""message":""#;
    line.find(KEY).map(|at| &line[at + KEY.len()..])
}

/// The `listen_port` of a complete "gateway ready" line in `text`.
fn ready_port_in(text: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(text);
    text.split_inclusive('\n')
        .filter(|line| line.ends_with('\n'))
        .filter(|line| message(line).is_some_and(|m| m.starts_with("gateway ready\"")))
        .find_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).ok()?;
            let port = value.pointer("/fields/listen_port")?.as_u64()?;
            u16::try_from(port).ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_decisions_and_warnings() {
        let mut counts = LogCounts::default();
        counts.record(
            r#"{"timestamp":"t","level":"INFO","fields":{"message":"connection allowed","agent":"a"},"target":"gateway::proxy"}"#,
        );
        counts.record(
            r#"{"timestamp":"t","level":"WARN","fields":{"message":"connection refused: no original destination"},"target":"x"}"#,
        );
        assert_eq!(
            (
                counts.lines,
                counts.allowed,
                counts.refused,
                counts.warnings
            ),
            (2, 1, 1, 1)
        );
    }

    #[test]
    fn finds_the_ready_port_in_complete_lines_only() {
        let line = r#"{"timestamp":"t","level":"INFO","fields":{"message":"gateway ready","listen_port":15001,"agents":1},"target":"gateway::run"}"#;
        assert_eq!(ready_port_in(line.as_bytes()), None);
        let text = format!("{{\"fields\":{{\"message\":\"agent attached\"}}}}\n{line}\n");
        assert_eq!(ready_port_in(text.as_bytes()), Some(15001));
    }
}
