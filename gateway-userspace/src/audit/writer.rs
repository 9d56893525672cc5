//! The one thread that writes the audit log: it numbers records, chains
//! their hashes, writes them in batches, and flushes at least every
//! [`FLUSH_INTERVAL`], or at once when someone waits for a record.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use super::{
    AuditError, AuditEvent, AuditKind,
    record::{AuditRecord, HEAD_KEY, Head},
};

/// The longest a request-path record waits in memory.
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Records per batch at most.
const BATCH: usize = 1024;

pub enum Reply {
    Async(tokio::sync::oneshot::Sender<Result<AuditRecord, AuditError>>),
    Blocking(mpsc::SyncSender<Result<AuditRecord, AuditError>>),
}

impl Reply {
    fn send(self, result: Result<AuditRecord, AuditError>) {
        match self {
            Self::Async(reply) => {
                let _ = reply.send(result);
            }
            Self::Blocking(reply) => {
                let _ = reply.send(result);
            }
        }
    }
}

pub struct Message {
    pub event: AuditEvent,
    pub time_unix_ms: u64,
    /// Set when the sender waits until the record is on disk.
    pub reply: Option<Reply>,
}

/// What the writer receives: a record, or a request to be told once
/// everything sent before is on disk.
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every command is a record: boxing it would add an allocation per request"
)]
pub enum Command {
    Record(Message),
    Sync(tokio::sync::oneshot::Sender<()>),
}

/// Reads the head (the last record) and starts the writer.
pub fn spawn(
    db: sled::Db,
    tree: sled::Tree,
    receiver: mpsc::Receiver<Command>,
    dropped: Arc<AtomicU64>,
) -> Result<(), AuditError> {
    let head = read_head(&tree)?;
    std::thread::Builder::new()
        .name("audit-writer".into())
        .spawn(move || {
            Writer {
                db,
                tree,
                head,
                dropped,
            }
            .run(&receiver);
        })
        .map_err(|e| AuditError::Write(format!("starting the writer thread: {e}")))?;
    Ok(())
}

/// The head as stored, or (for an older or empty log) the last record.
pub fn read_head(tree: &sled::Tree) -> Result<Head, AuditError> {
    if let Some(bytes) = tree.get(HEAD_KEY)? {
        return serde_json::from_slice(&bytes).map_err(|e| AuditError::Corrupt {
            seq: 0,
            message: format!("the head: {e}"),
        });
    }
    Ok(Head::genesis())
}

struct Writer {
    db: sled::Db,
    tree: sled::Tree,
    head: Head,
    dropped: Arc<AtomicU64>,
}

impl Writer {
    fn run(mut self, receiver: &mpsc::Receiver<Command>) {
        let mut last_flush = Instant::now();
        let mut dirty = false;
        loop {
            let first = match receiver.recv_timeout(FLUSH_INTERVAL) {
                Ok(message) => Some(message),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut messages = Vec::new();
            let mut syncs = Vec::new();
            let mut take = |command| match command {
                Command::Record(message) => messages.push(message),
                Command::Sync(reply) => syncs.push(reply),
            };
            if let Some(command) = first {
                take(command);
            }
            for _ in 1..BATCH {
                match receiver.try_recv() {
                    Ok(command) => take(command),
                    Err(_) => break,
                }
            }
            let dropped = self.dropped.swap(0, Ordering::Relaxed);
            if dropped > 0 {
                let mut event = AuditEvent::new(AuditKind::RecordsDropped);
                event.count = Some(dropped);
                messages.push(Message {
                    event,
                    time_unix_ms: super::now_unix_ms(),
                    reply: None,
                });
            }
            let wants_flush = !syncs.is_empty() || messages.iter().any(|m| m.reply.is_some());
            let written = self.write(messages);
            dirty |= !written.is_empty();
            let mut outcome = Ok(());
            if dirty && (wants_flush || last_flush.elapsed() >= FLUSH_INTERVAL) {
                outcome = self.db.flush().map(|_| ());
                last_flush = Instant::now();
                dirty = outcome.is_err();
            }
            for (record, reply) in written {
                let Some(reply) = reply else { continue };
                reply.send(match (&record, &outcome) {
                    (Ok(record), Ok(())) => Ok(record.clone()),
                    (Err(e), _) => Err(AuditError::Write(e.clone())),
                    (_, Err(e)) => Err(AuditError::Write(e.to_string())),
                });
            }
            for reply in syncs {
                let _ = reply.send(());
            }
        }
        if dirty && let Err(error) = self.db.flush() {
            tracing::error!(%error, "flushing the audit log at exit failed");
        }
    }

    /// Writes `messages` in one batch; each record (or the error that
    /// kept it out) with who waits for it.
    fn write(
        &mut self,
        messages: Vec<Message>,
    ) -> Vec<(Result<AuditRecord, String>, Option<Reply>)> {
        if messages.is_empty() {
            return Vec::new();
        }
        let start = self.head.clone();
        let mut batch = sled::Batch::default();
        let mut out = Vec::with_capacity(messages.len());
        for message in messages {
            let record = AuditRecord::chain(&self.head, message.time_unix_ms, message.event);
            match serde_json::to_vec(&record) {
                Ok(bytes) => {
                    batch.insert(&record.key(), bytes);
                    self.head = record.head();
                    out.push((Ok(record), message.reply));
                }
                Err(e) => out.push((Err(e.to_string()), message.reply)),
            }
        }
        let head = serde_json::to_vec(&self.head).unwrap_or_default();
        batch.insert(HEAD_KEY, head);
        if let Err(error) = self.tree.apply_batch(batch) {
            tracing::error!(%error, "writing audit records failed");
            self.head = start;
            let message = error.to_string();
            return out
                .into_iter()
                .map(|(_, reply)| (Err(message.clone()), reply))
                .collect();
        }
        out
    }
}
