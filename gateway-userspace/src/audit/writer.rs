//! The thread that writes request-path events: every [`TICK`] it takes
//! what is queued, in batches of up to [`BATCH`], appends each batch to
//! the chain in one sled batch, and flushes at least every
//! [`FLUSH_INTERVAL`] (or at once for a [`Command::Sync`]). No disk work
//! on the request tasks, and no wake-up either: the writer is never
//! blocked on the queue, so a send is a push, not a futex call and a
//! context switch per request (which cost more than the record itself).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use super::{AuditError, AuditEvent, AuditKind, chain::Chain};

/// The longest a request-path record waits in memory.
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Records per batch at most.
const BATCH: usize = 1024;
/// How often the writer looks at the queue.
const TICK: Duration = Duration::from_millis(20);

/// What the writer receives: an event (with its time), or a request to be
/// told once everything sent before is on disk.
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every command is a record: boxing it would add an allocation per request"
)]
pub enum Command {
    Record(u64, AuditEvent),
    Sync(tokio::sync::oneshot::Sender<()>),
}

pub fn spawn(
    chain: Arc<Chain>,
    receiver: mpsc::Receiver<Command>,
    dropped: Arc<AtomicU64>,
) -> Result<(), AuditError> {
    std::thread::Builder::new()
        .name("audit-writer".into())
        .spawn(move || run(&chain, &receiver, &dropped))
        .map_err(|e| AuditError::Write(format!("starting the writer thread: {e}")))?;
    Ok(())
}

fn run(chain: &Chain, receiver: &mpsc::Receiver<Command>, dropped: &AtomicU64) {
    let mut last_flush = Instant::now();
    let mut dirty = false;
    let mut disconnected = false;
    let mut backlog = false;
    while !disconnected {
        // With a full batch just written, more may be waiting: no pause.
        if !backlog {
            std::thread::sleep(TICK);
        }
        let mut events = Vec::new();
        let mut syncs = Vec::new();
        while events.len() < BATCH {
            match receiver.try_recv() {
                Ok(Command::Record(time, event)) => events.push((time, event)),
                Ok(Command::Sync(reply)) => syncs.push(reply),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    disconnected = true;
                    break;
                }
            }
        }
        backlog = events.len() >= BATCH;
        let lost = dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            let mut event = AuditEvent::new(AuditKind::RecordsDropped);
            event.count = Some(lost);
            events.push((super::now_unix_ms(), event));
        }
        if !events.is_empty() {
            match chain.append(events) {
                Ok(_) => dirty = true,
                Err(error) => tracing::error!(%error, "writing audit records failed"),
            }
        }
        if dirty && (!syncs.is_empty() || last_flush.elapsed() >= FLUSH_INTERVAL) {
            match chain.flush() {
                Ok(()) => dirty = false,
                Err(error) => tracing::error!(%error, "flushing the audit log failed"),
            }
            last_flush = Instant::now();
        }
        for reply in syncs {
            let _ = reply.send(());
        }
    }
    if dirty && let Err(error) = chain.flush() {
        tracing::error!(%error, "flushing the audit log at exit failed");
    }
}
