//! Makes the host's `127.0.0.1:PORT` reachable as `127.0.0.1:PORT` inside a
//! test namespace, byte for byte: the listening socket is made inside the
//! namespace, the onward connection from the host. So a browser kept in a
//! namespace with only `lo` (nothing it does can leave the machine) can
//! open the gateway's approvals page, which listens on the host's loopback
//! only, with the same address, `Host` and `Origin` as on the host.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::netns::NetNs;

pub struct LoopbackRelay {
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LoopbackRelay {
    /// Listens on 127.0.0.1:`port` in `ns`, relaying to 127.0.0.1:`port` on the host.
    pub fn start(ns: &NetNs, port: u16) -> Self {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let netns = ns.open();
        // Bound on a thread that entered the namespace; the socket stays there.
        let listener = std::thread::spawn(move || {
            crate::netns::enter_for_this_thread(&netns);
            TcpListener::bind(addr).unwrap_or_else(|e| panic!("relay bind {addr} in netns: {e}"))
        })
        .join()
        .expect("the binding thread");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        // Spawned from the test's thread: it and its children are in the host namespace.
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((inside, _)) => relay(&inside, addr),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self {
            stop,
            addr,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

fn relay(inside: &TcpStream, addr: SocketAddr) {
    let _ = inside.set_nonblocking(false);
    let Ok(host) = TcpStream::connect(addr) else {
        return;
    };
    for (mut from, mut to) in [
        (inside.try_clone(), host.try_clone()),
        (host.try_clone(), inside.try_clone()),
    ]
    .into_iter()
    .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
    {
        std::thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 || to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        });
    }
}

impl Drop for LoopbackRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
