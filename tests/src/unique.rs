//! Names and numbers that do not collide between tests running in parallel,
//! nor with another test binary running at the same time.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU16, Ordering};

static PORT_COUNTER: AtomicU16 = AtomicU16::new(0);

/// `gwtest-<tag>-<pid>`, shortened to something safe for file and cgroup names.
pub fn name(tag: &str) -> String {
    let tag: String = tag
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(24)
        .collect();
    format!("gwtest-{tag}-{}", std::process::id())
}

/// A TCP port from 20000 up that is currently free on both 127.0.0.1 and `[::1]`
/// (the gateway's loopback listeners need both).
pub fn free_listen_port() -> u16 {
    let base = 20000 + u16::try_from(std::process::id() % 400).expect("small") * 25;
    for _ in 0..10_000 {
        let offset = PORT_COUNTER.fetch_add(1, Ordering::Relaxed) % 10_000;
        let port = base + offset;
        if port_is_free(port) {
            return port;
        }
    }
    panic!("no free TCP port found from {base} up");
}

fn port_is_free(port: u16) -> bool {
    let v4 = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    let v6 = TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port)));
    v4.is_ok() && v6.is_ok()
}
