//! The upstream TCP server the agents try to reach.
//!
//! Protocol (see `upstream/session.rs`): an HTTP `GET` gets an HTTP/1.0 200
//! whose body is the greeting line; anything else gets the greeting line
//! `peer=<ip>:<port> local=<ip>:<port>\n` followed by an echo of what it sent.
//! Every accepted connection is recorded, so tests can assert who connected
//! (the gateway from the host namespace, or the agent directly) and that
//! nothing connected at all.

mod session;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::netns::NetNs;

/// One accepted connection, addresses in canonical form (v4-mapped shown as IPv4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub peer: SocketAddr,
    pub local: SocketAddr,
}

pub struct UpstreamServer {
    port: u16,
    accepted: Arc<Mutex<Vec<Accepted>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UpstreamServer {
    /// Serves on `[::]:<kernel-chosen port>` (dual stack) inside `ns`. The
    /// serving thread enters the namespace before it creates the socket.
    pub fn in_netns(ns: &NetNs) -> Self {
        let netns = ns.open();
        Self::start(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)), move || {
            crate::netns::enter_for_this_thread(&netns);
        })
    }

    /// Serves on 127.0.0.1:<kernel-chosen port> in the host namespace.
    pub fn on_host_loopback() -> Self {
        Self::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), || {})
    }

    fn start(bind: SocketAddr, enter: impl FnOnce() + Send + 'static) -> Self {
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (port_tx, port_rx) = mpsc::channel();
        let thread = {
            let accepted = Arc::clone(&accepted);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                enter();
                let listener =
                    TcpListener::bind(bind).unwrap_or_else(|e| panic!("upstream bind {bind}: {e}"));
                listener
                    .set_nonblocking(true)
                    .expect("nonblocking listener");
                let port = listener.local_addr().expect("local addr").port();
                port_tx.send(port).expect("test waits for the port");
                accept_loop(&listener, &accepted, &stop);
            })
        };
        let port = port_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("upstream server did not start");
        Self {
            port,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> Vec<Accepted> {
        self.accepted.lock().expect("lock").clone()
    }

    /// Waits until at least `count` connections were accepted.
    pub fn wait_for_accepted(&self, count: usize, timeout: Duration) -> Vec<Accepted> {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.accepted();
            if seen.len() >= count {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "upstream on port {} accepted {} connection(s) within {timeout:?}, wanted {count}: {seen:?}",
                self.port,
                seen.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Asserts that the number of accepted connections stays at `count` for a
    /// short while (an accept would show up well within it).
    pub fn assert_accepted_stays(&self, count: usize, why: &str) {
        std::thread::sleep(Duration::from_millis(300));
        let seen = self.accepted();
        assert!(
            seen.len() == count,
            "{why}: upstream on port {} should have accepted {count} connection(s), \
             but accepted {}: {seen:?}",
            self.port,
            seen.len()
        );
    }
}

impl Drop for UpstreamServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, accepted: &Arc<Mutex<Vec<Accepted>>>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, peer)) => {
                let local = stream.local_addr().expect("local addr of accepted socket");
                let conn = Accepted {
                    peer: canonical(peer),
                    local: canonical(local),
                };
                accepted.lock().expect("lock").push(conn);
                std::thread::spawn(move || session::serve(stream, conn));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => eprintln!("upstream accept: {e}"),
        }
    }
}

fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}
