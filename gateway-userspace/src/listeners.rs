//! The gateway's listeners, one set per network namespace that agents
//! connect from: the host namespace from the start, each agent namespace
//! when the kernel first reports a connect from it.
//!
//! A listener socket holds its namespace alive, so listeners of namespaces
//! that no agent process uses any more are closed after a while.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use aya::maps::{MapData, RingBuf};
use gateway_common::NetnsEvent;
use tokio::{
    io::{Interest, unix::AsyncFd},
    task::JoinHandle,
};

use crate::{
    bpf::{BpfError, SharedMaps},
    cgroup::Cgroup,
    dns::DnsResponder,
    netns::{self, NetnsListeners},
    process,
    proxy::Proxy,
};

/// How often unused namespace listeners are looked for.
const GC_INTERVAL: Duration = Duration::from_secs(5);
/// A namespace listener is kept at least this long, so that a container
/// still starting up (its process not yet in the cgroup) keeps it.
const MIN_AGE: Duration = Duration::from_secs(10);
/// After failing to open a listener for a namespace, wait before trying
/// again, so a flood of connects does not become a flood of setns.
const RETRY_AFTER: Duration = Duration::from_secs(1);

struct Entry {
    inode: u64,
    opened: Instant,
    host: bool,
    tasks: Vec<JoinHandle<()>>,
}

pub struct Listeners {
    port: u16,
    proxy: Arc<Proxy>,
    dns: Arc<DnsResponder>,
    maps: Arc<SharedMaps>,
    agent_cgroups: Vec<Cgroup>,
    by_cookie: HashMap<u64, Entry>,
    failed: HashMap<u64, Instant>,
    /// Agent processes already checked for `CAP_NET_RAW`.
    checked_pids: HashSet<u32>,
}

impl Listeners {
    #[must_use]
    pub fn new(
        port: u16,
        proxy: Arc<Proxy>,
        dns: Arc<DnsResponder>,
        maps: Arc<SharedMaps>,
        agent_cgroups: Vec<Cgroup>,
    ) -> Self {
        Self {
            port,
            dns,
            maps,
            proxy,
            agent_cgroups,
            by_cookie: HashMap::new(),
            failed: HashMap::new(),
            checked_pids: HashSet::new(),
        }
    }

    /// Starts serving `listeners` and tells the kernel programs that this
    /// namespace may now be redirected to.
    pub fn add(&mut self, listeners: NetnsListeners, host: bool) -> Result<(), BpfError> {
        let NetnsListeners {
            v4,
            v6,
            dns4,
            dns6,
            cookie,
            inode,
        } = listeners;
        let mut tasks = Vec::with_capacity(4);
        for std_listener in std::iter::once(v4).chain(v6) {
            match tokio::net::TcpListener::from_std(std_listener) {
                Ok(l) => tasks.push(self.proxy.serve(l, cookie)),
                Err(error) => tracing::error!(%error, "registering a listener with tokio"),
            }
        }
        for std_socket in std::iter::once(dns4).chain(dns6) {
            match tokio::net::UdpSocket::from_std(std_socket) {
                Ok(socket) => tasks.push(self.dns.serve(socket)),
                Err(error) => tracing::error!(%error, "registering a DNS socket with tokio"),
            }
        }
        self.maps.mark_netns_ready(cookie)?;
        self.by_cookie.insert(
            cookie,
            Entry {
                inode,
                opened: Instant::now(),
                host,
                tasks,
            },
        );
        Ok(())
    }

    /// Opens listeners in the namespace of the process that reported
    /// `event`, unless that namespace already has them.
    async fn on_event(&mut self, event: NetnsEvent) {
        if self.by_cookie.contains_key(&event.netns_cookie) {
            return;
        }
        if self
            .failed
            .get(&event.netns_cookie)
            .is_some_and(|t| t.elapsed() < RETRY_AFTER)
        {
            return;
        }
        let pid = event.pid_tgid >> 32;
        let path = std::path::PathBuf::from(format!("/proc/{pid}/ns/net"));
        let port = self.port;
        let opened = tokio::task::spawn_blocking(move || netns::listen_in(&path, port)).await;
        match opened {
            Ok(Ok(listeners)) => {
                if self.by_cookie.contains_key(&listeners.cookie) {
                    return; // The process had moved to a namespace we serve.
                }
                let cookie = listeners.cookie;
                match self.add(listeners, false) {
                    Ok(()) => tracing::info!(netns_cookie = cookie, pid, "netns listener opened"),
                    Err(error) => tracing::error!(%error, pid, "registering a netns listener"),
                }
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, pid, netns_cookie = event.netns_cookie, "could not open a netns listener");
                self.failed.insert(event.netns_cookie, Instant::now());
            }
            Err(error) => tracing::error!(%error, "netns listener task failed"),
        }
    }

    /// Closes the listeners of namespaces no agent process is in any more,
    /// and warns about agent processes that could go around the gateway.
    fn collect_garbage(&mut self) {
        let pids: HashSet<u32> = self
            .agent_cgroups
            .iter()
            .flat_map(Cgroup::pids_recursive)
            .collect();
        let live: HashSet<u64> = pids
            .iter()
            .filter_map(|&p| process::netns_inode(p))
            .collect();
        // A warning is advice, not enforcement: each process is looked at
        // once, when it first shows up, rather than re-read every sweep.
        for &pid in pids.difference(&self.checked_pids) {
            if process::has_cap_net_raw(pid) {
                tracing::warn!(
                    pid,
                    "agent process has CAP_NET_RAW: its packet sockets are not redirected; drop the capability (e.g. --cap-drop NET_RAW)"
                );
            }
        }
        self.checked_pids = pids;
        let dead: Vec<u64> = self
            .by_cookie
            .iter()
            .filter(|(_, e)| !e.host && e.opened.elapsed() > MIN_AGE && !live.contains(&e.inode))
            .map(|(cookie, _)| *cookie)
            .collect();
        for cookie in dead {
            if let Some(entry) = self.by_cookie.remove(&cookie) {
                self.maps.forget_netns(cookie);
                for task in entry.tasks {
                    task.abort();
                }
                tracing::info!(
                    netns_cookie = cookie,
                    "netns listener closed: no agent left in it"
                );
            }
        }
        self.failed.retain(|_, t| t.elapsed() < RETRY_AFTER);
    }

    /// Serves namespace events and garbage collection until cancelled.
    pub async fn run(mut self, events: RingBuf<MapData>) -> std::io::Result<()> {
        // SAFETY: the ring buffer owns its map descriptor, which stays open
        // and unchanged for as long as the `AsyncFd` holds the ring buffer.
        let mut events = unsafe { AsyncFd::register_with_interest(events, Interest::READABLE) }
            .map_err(std::io::Error::from)?;
        let mut gc = tokio::time::interval(GC_INTERVAL);
        loop {
            tokio::select! {
                guard = events.readable_mut() => {
                    let mut guard = guard?;
                    let mut batch = Vec::new();
                    while let Some(item) = guard.get_inner_mut().next() {
                        if item.len() >= std::mem::size_of::<NetnsEvent>() {
                            // SAFETY: the kernel wrote a whole `NetnsEvent`
                            // (checked length); `read_unaligned` copes with
                            // any alignment and every bit pattern is valid.
                            batch.push(unsafe { item.as_ptr().cast::<NetnsEvent>().read_unaligned() });
                        }
                    }
                    guard.clear_ready();
                    for event in batch {
                        self.on_event(event).await;
                    }
                }
                _ = gc.tick() => self.collect_garbage(),
            }
        }
    }
}
