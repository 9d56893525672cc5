//! The gateway's JSON log lines (stderr, `--log-format json`), collected by a
//! reader thread so that tests can wait for an event or search past ones.

use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One line the gateway printed; `json` is set when it parsed as JSON.
#[derive(Clone, Debug)]
pub struct LogLine {
    pub raw: String,
    pub json: Option<serde_json::Value>,
}

impl LogLine {
    fn new(raw: String) -> Self {
        let json = serde_json::from_str(&raw).ok();
        Self { raw, json }
    }

    /// `fields.message`, or "" when absent.
    pub fn message(&self) -> &str {
        self.json
            .as_ref()
            .and_then(|j| j.pointer("/fields/message"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
    }

    /// `fields.<name>` as text (strings as is, numbers and others as JSON).
    pub fn field(&self, name: &str) -> Option<String> {
        let value = self.json.as_ref()?.get("fields")?.get(name)?;
        Some(match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// True for an event with this message whose `dst` field is exactly `dst`.
    pub fn is_event_for(&self, message: &str, dst: &str) -> bool {
        self.message() == message && self.field("dst").as_deref() == Some(dst)
    }
}

/// All lines so far, shared with the reader threads.
#[derive(Clone, Default)]
pub struct LogBook {
    inner: Arc<(Mutex<Vec<LogLine>>, Condvar)>,
}

impl LogBook {
    /// Reads `pipe` line by line into the book on a new thread.
    pub fn follow(&self, pipe: impl Read + Send + 'static) {
        let book = self.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let (lines, changed) = &*book.inner;
                lines.lock().expect("lock").push(LogLine::new(line));
                changed.notify_all();
            }
        });
    }

    pub fn lines(&self) -> Vec<LogLine> {
        self.inner.0.lock().expect("lock").clone()
    }

    /// The first line (past or future) matching `predicate`, or `None` after `timeout`.
    pub fn wait_for(
        &self,
        predicate: impl Fn(&LogLine) -> bool,
        timeout: Duration,
    ) -> Option<LogLine> {
        let deadline = Instant::now() + timeout;
        let (lines, changed) = &*self.inner;
        let mut guard = lines.lock().expect("lock");
        loop {
            if let Some(hit) = guard.iter().find(|l| predicate(l)) {
                return Some(hit.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            guard = changed
                .wait_timeout(guard, left.min(Duration::from_millis(100)))
                .expect("lock")
                .0;
        }
    }

    /// Every line, for panic messages.
    pub fn dump(&self) -> String {
        let lines = self.lines();
        let mut out = format!("--- gateway output ({} lines) ---\n", lines.len());
        for l in lines {
            out.push_str(&l.raw);
            out.push('\n');
        }
        out.push_str("--- end of gateway output ---");
        out
    }
}
