//! The vault as the running gateway holds it: the opened secrets indexed
//! by each configured agent's placeholder, replaced whole when
//! `vault.json` changes (`gateway secret set` rotates without a restart).
//! A vault that no longer loads leaves the last good one in place.

use std::{
    collections::HashMap,
    os::unix::fs::MetadataExt as _,
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use arc_swap::ArcSwap;
use tokio::{task::JoinHandle, time::MissedTickBehavior};

use super::{OpenVault, Placeholder, Secret, VaultError, vault_path};

/// A secret one agent may use, found by that agent's placeholder.
#[derive(Debug, Clone)]
pub struct Usable {
    pub agent: Arc<str>,
    pub secret: Arc<Secret>,
}

/// The opened vault: every configured agent's placeholders.
#[derive(Debug, Default)]
pub struct Unsealed {
    by_placeholder: HashMap<Placeholder, Usable>,
    /// Records in the vault file, opened or not.
    records: usize,
    secrets: usize,
}

impl Unsealed {
    #[must_use]
    pub fn lookup(&self, placeholder: &Placeholder) -> Option<&Usable> {
        self.by_placeholder.get(placeholder)
    }

    /// Whether the vault file has no records at all (then no agent can
    /// hold a placeholder, and the proxy skips looking for them). A vault
    /// whose records all failed to open is not empty: placeholders are
    /// still looked for, and blocked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }
}

/// What identifies a version of the vault file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        ino: m.ino(),
        len: m.len(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
    })
}

#[derive(Debug)]
pub struct VaultStore {
    state_dir: PathBuf,
    agents: Vec<Arc<str>>,
    current: ArcSwap<Unsealed>,
    seen: Mutex<Option<Stamp>>,
}

impl VaultStore {
    /// Opens the vault in `state_dir` for these agents. No vault file is
    /// an empty vault; a vault with records but no usable key, or one
    /// that is unreadable as a whole, is an error. A single record that
    /// fails is logged by name and left out.
    pub fn open(state_dir: PathBuf, agents: Vec<Arc<str>>) -> Result<Arc<Self>, VaultError> {
        let seen = stamp(&vault_path(&state_dir));
        let unsealed = load(&state_dir, &agents)?;
        Ok(Arc::new(Self {
            state_dir,
            agents,
            current: ArcSwap::from_pointee(unsealed),
            seen: Mutex::new(seen),
        }))
    }

    #[must_use]
    pub fn current(&self) -> Arc<Unsealed> {
        self.current.load_full()
    }

    /// Whether the vault in use has no record (without taking a reference
    /// to it: every request asks).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.current.load().is_empty()
    }

    /// Reloads if the vault file changed. Reads and decrypts: call it off
    /// the async runtime's threads.
    pub fn poll(&self) {
        if self.agents.is_empty() {
            return;
        }
        let path = vault_path(&self.state_dir);
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let now = stamp(&path);
        if now == *seen {
            return;
        }
        *seen = now;
        match load(&self.state_dir, &self.agents) {
            Ok(unsealed) => {
                tracing::info!(path = %path.display(), secrets = unsealed.secrets, "vault reloaded");
                self.current.store(Arc::new(unsealed));
            }
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "vault reload failed; keeping the last good vault");
            }
        }
    }
}

fn load(state_dir: &std::path::Path, agents: &[Arc<str>]) -> Result<Unsealed, VaultError> {
    let Some(OpenVault {
        key,
        records,
        opened,
    }) = super::open(state_dir)?
    else {
        return Ok(Unsealed::default());
    };
    let mut unsealed = Unsealed {
        records,
        ..Unsealed::default()
    };
    for secret in opened.secrets {
        if let super::AgentScope::Only(names) = &secret.binding.agents {
            for name in names
                .iter()
                .filter(|n| !agents.iter().any(|a| &**a == n.as_str()))
            {
                tracing::warn!(secret = %secret.name, agent = %name, "the secret is bound to an agent this gateway does not have");
            }
        }
        let secret = Arc::new(secret);
        for agent in agents.iter().filter(|a| secret.binding.allows_agent(a)) {
            unsealed.by_placeholder.insert(
                Placeholder::derive(&key, agent, &secret.name),
                Usable {
                    agent: Arc::clone(agent),
                    secret: Arc::clone(&secret),
                },
            );
        }
        unsealed.secrets += 1;
    }
    Ok(unsealed)
}

/// Polls the vault file every `every` and reloads it when it changed.
pub fn spawn_reloader(store: Arc<VaultStore>, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every.max(Duration::from_millis(1)));
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let store = Arc::clone(&store);
            if let Err(error) = tokio::task::spawn_blocking(move || store.poll()).await {
                tracing::error!(%error, "vault reload poll failed");
            }
        }
    })
}
