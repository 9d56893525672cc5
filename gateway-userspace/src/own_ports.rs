//! The gateway's own loopback ports (its listener, the approvals web
//! page) are never a destination for an agent, whatever its policy says:
//! an agent allowed to reach `127.0.0.1` must still not talk to the page
//! where people approve its requests.

use std::{net::SocketAddr, sync::Arc};

/// Ports the gateway serves on host loopback.
#[derive(Debug, Clone, Default)]
pub struct OwnPorts(Arc<[u16]>);

/// An agent's connection or request led to one of the gateway's own ports.
#[derive(Debug, thiserror::Error)]
#[error("{0} is one of the gateway's own ports; agents never reach it")]
pub struct OwnPortRefused(pub SocketAddr);

impl OwnPorts {
    #[must_use]
    pub fn new(ports: impl IntoIterator<Item = u16>) -> Self {
        Self(ports.into_iter().filter(|p| *p != 0).collect())
    }

    /// Whether `dst` would reach one of the ports: a loopback address, or
    /// the unspecified one (Linux delivers a connect to `0.0.0.0` or `::`
    /// locally).
    #[must_use]
    pub fn is_own(&self, dst: SocketAddr) -> bool {
        let ip = dst.ip().to_canonical();
        (ip.is_loopback() || ip.is_unspecified()) && self.0.contains(&dst.port())
    }

    /// `Err` when `dst` is one of the gateway's own ports.
    pub fn check(&self, dst: SocketAddr) -> Result<(), OwnPortRefused> {
        if self.is_own(dst) {
            Err(OwnPortRefused(dst))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_unspecified_addresses_of_own_ports_are_refused() {
        let own = OwnPorts::new([15001, 15080, 0]);
        for dst in [
            "127.0.0.1:15080",
            "127.1.2.3:15080",
            "[::1]:15080",
            "[::ffff:127.0.0.1]:15080",
            "0.0.0.0:15080",
            "[::]:15001",
        ] {
            assert!(own.is_own(dst.parse().unwrap()), "{dst}");
        }
        for dst in ["127.0.0.1:15081", "10.0.0.1:15080", "127.0.0.1:0"] {
            assert!(own.check(dst.parse().unwrap()).is_ok(), "{dst}");
        }
    }
}
