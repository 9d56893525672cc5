//! Small helpers both benchmarks use to set up a gateway's scratch files.

use std::{
    fs,
    net::{Ipv4Addr, Ipv6Addr, TcpListener},
    path::Path,
};

use anyhow::{Context as _, Result, bail};

pub fn write(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// A port free on both 127.0.0.1 and `[::1]`, where the gateway listens.
pub fn free_listen_port() -> Result<u16> {
    for _ in 0..20 {
        let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding 127.0.0.1:0")?;
        let port = v4.local_addr()?.port();
        // Without IPv6 on loopback the gateway listens on 127.0.0.1 only.
        let v6_free = TcpListener::bind((Ipv6Addr::LOCALHOST, port)).is_ok()
            || TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_err();
        if v6_free {
            return Ok(port);
        }
    }
    bail!("found no port free on both 127.0.0.1 and [::1]")
}
