//! Connection workers: one thread per CPU, each with its own
//! single-threaded tokio runtime. An accepted connection is handed to one
//! worker and lives there for good, together with the upstream connections
//! it opens (each worker has its own upstream pool, see
//! `intercept::Upstream`). The agent side, the request handler and the
//! upstream side of a request then wake each other on one thread: with
//! tokio's work-stealing runtime they woke each other across threads, which
//! cost more per keep-alive request than the TLS on both sides (see
//! BENCHMARKS.md, "HTTPS interception").

use std::{
    cell::Cell,
    future::Future,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    thread::JoinHandle,
};

use tokio::{runtime::Handle, sync::oneshot};

#[derive(Debug, thiserror::Error)]
pub enum WorkersError {
    #[error("GATEWAY_WORKERS={0:?}: expected a whole number of connection workers, at least 1")]
    BadCount(String),
    #[error("starting connection worker {index}: {source}")]
    Start {
        index: usize,
        source: std::io::Error,
    },
}

thread_local! {
    /// The index of the worker running on this thread; 0 elsewhere.
    static WORKER_INDEX: Cell<usize> = const { Cell::new(0) };
}

/// The index of the worker the caller runs on (0 off the workers), for
/// per-worker state such as upstream pools.
pub fn current_index() -> usize {
    WORKER_INDEX.with(Cell::get)
}

/// How many workers to start: `GATEWAY_WORKERS` if set (a bad value is an
/// error, not silently the default), else one per CPU the gateway may run
/// on.
pub fn count() -> Result<usize, WorkersError> {
    match std::env::var("GATEWAY_WORKERS") {
        Ok(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or(WorkersError::BadCount(text)),
        Err(_) => Ok(std::thread::available_parallelism().map_or(1, std::num::NonZero::get)),
    }
}

pub struct Workers {
    handles: Vec<Handle>,
    next: AtomicUsize,
    /// Dropping a sender ends its worker's runtime and its connections.
    stops: Mutex<Vec<oneshot::Sender<()>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Workers {
    pub fn start(count: usize) -> Result<Self, WorkersError> {
        let count = count.max(1);
        let mut handles = Vec::with_capacity(count);
        let mut stops = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count);
        for index in 0..count {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|source| WorkersError::Start { index, source })?;
            let (stop, stopped) = oneshot::channel::<()>();
            handles.push(runtime.handle().clone());
            let thread = std::thread::Builder::new()
                .name(format!("gateway-worker-{index}"))
                .spawn(move || {
                    WORKER_INDEX.with(|cell| cell.set(index));
                    // Returns when the sender is dropped; dropping the
                    // runtime then cancels what is still running on it.
                    let _ = runtime.block_on(stopped);
                })
                .map_err(|source| WorkersError::Start { index, source })?;
            stops.push(stop);
            threads.push(thread);
        }
        Ok(Self {
            handles,
            next: AtomicUsize::new(0),
            stops: Mutex::new(stops),
            threads: Mutex::new(threads),
        })
    }

    #[must_use]
    pub fn count(&self) -> usize {
        self.handles.len()
    }

    /// Runs `task` on the next worker, round robin.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        drop(self.handles[index].spawn(task));
    }
}

impl Workers {
    /// Ends every worker and the connections on it. Tasks on the workers
    /// hold the proxy, which holds the workers: this breaks that cycle.
    pub fn shutdown(&self) {
        lock(&self.stops).clear();
        let threads: Vec<_> = lock(&self.threads).drain(..).collect();
        let me = std::thread::current().id();
        for thread in threads {
            // A worker never joins itself (the last reference to the
            // workers may be dropped by a task on one of them).
            if thread.thread().id() != me {
                // Each worker only blocks in its runtime, which the
                // dropped sender has just ended.
                let _ = thread.join();
            }
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The data (senders, join handles) stays valid if a holder panicked.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_run_on_every_worker_and_see_their_index() {
        let workers = Workers::start(3).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..6 {
            let tx = tx.clone();
            workers.spawn(async move {
                tx.send(current_index()).unwrap();
            });
        }
        let mut seen: Vec<usize> = (0..6).map(|_| rx.recv().unwrap()).collect();
        seen.sort_unstable();
        assert_eq!(seen, vec![0, 0, 1, 1, 2, 2]);
        drop(workers);
    }

    #[test]
    fn dropping_the_workers_ends_their_tasks() {
        let workers = Workers::start(2).unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        workers.spawn(async move {
            let _tx = tx;
            std::future::pending::<()>().await;
        });
        workers.shutdown();
        // The task was dropped with its runtime, and with it the sender.
        assert!(rx.recv().is_err());
    }
}
