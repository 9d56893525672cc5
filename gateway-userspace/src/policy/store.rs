//! Hot reload: each agent's current policy, replaced whole when its files
//! change.
//!
//! A connection takes the current policy for each decision, so a reload
//! applies to the next request without touching open connections. A file
//! that does not parse leaves the last good policy in place.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use arc_swap::ArcSwap;
use tokio::{task::JoinHandle, time::MissedTickBehavior};

use super::{
    Policy,
    sources::{FileState, Sources},
};

/// One agent's policy and the file it comes from.
#[derive(Debug)]
pub struct PolicyStore {
    path: PathBuf,
    current: ArcSwap<Policy>,
    /// The files the last load attempt read (good or not), as it read them.
    watched: Mutex<Sources>,
}

/// What a [`PolicyStore::poll`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    Unchanged,
    Reloaded,
    /// The files changed but do not load; the last good policy stays.
    Failed,
}

impl PolicyStore {
    /// `initial` is the policy loaded from `path`.
    #[must_use]
    pub fn new(path: PathBuf, initial: Policy) -> Arc<Self> {
        let watched = if initial.sources.main() == Some(path.as_path()) {
            initial.sources.clone()
        } else {
            // Not loaded from this path: load it at the first poll.
            let mut unread = Sources::default();
            unread.record(&path, FileState::Unread);
            unread
        };
        Arc::new(Self {
            path,
            current: ArcSwap::from_pointee(initial),
            watched: Mutex::new(watched),
        })
    }

    #[must_use]
    pub fn current(&self) -> Arc<Policy> {
        self.current.load_full()
    }

    /// Reloads if the policy file or a pack it reads changed. Reads files
    /// and compiles: call it off the async runtime's threads.
    pub fn poll(&self) -> Reload {
        let mut watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
        if !watched.changed_on_disk() {
            return Reload::Unchanged;
        }
        let (sources, result) = Policy::load_tracked(&self.path);
        // Remember what this attempt saw, so a bad file is reported once
        // rather than at every poll.
        *watched = sources;
        let path = self.path.display();
        match result {
            Ok(policy) => {
                tracing::info!(%path, rules = policy.rule_count(), "policy reloaded");
                self.current.store(Arc::new(policy));
                Reload::Reloaded
            }
            Err(error) => {
                tracing::error!(%path, %error, "policy reload failed; keeping the last good policy");
                Reload::Failed
            }
        }
    }
}

/// Polls every store's files every `every` and reloads those that changed.
/// Abort the handle to stop.
pub fn spawn_reloader(stores: Vec<Arc<PolicyStore>>, every: Duration) -> JoinHandle<()> {
    let stores: Arc<[Arc<PolicyStore>]> = stores.into();
    tokio::spawn(async move {
        // `interval` panics on zero.
        let mut ticks = tokio::time::interval(every.max(Duration::from_millis(1)));
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let stores = Arc::clone(&stores);
            // Reading files and compiling a large policy would hold up a
            // runtime thread that is relaying traffic.
            let polled = tokio::task::spawn_blocking(move || {
                for store in stores.iter() {
                    store.poll();
                }
            })
            .await;
            if let Err(error) = polled {
                tracing::error!(%error, "policy reload poll failed");
            }
        }
    })
}

#[cfg(test)]
mod tests;
