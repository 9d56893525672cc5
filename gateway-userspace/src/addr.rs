//! Addresses as the kernel records them (16 bytes, IPv4 in v4-mapped
//! form) and as the rest of the gateway uses them.

use std::{
    fmt,
    net::{IpAddr, Ipv6Addr, SocketAddr},
};

use gateway_common::{ConnKey, OriginalDst};

/// Where an agent's connection was going before the kernel redirected it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OriginalDstAddr(pub SocketAddr);

/// The agent end of a redirected connection, as the listener sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

impl OriginalDstAddr {
    /// A v4-mapped destination is shown and dialled as IPv4: that is the
    /// protocol it used on the wire.
    #[must_use]
    pub fn from_kernel(dst: &OriginalDst) -> Self {
        let ip = Ipv6Addr::from(dst.addr).to_canonical();
        Self(SocketAddr::new(ip, dst.port))
    }
}

impl fmt::Display for OriginalDstAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The key under which `sock_ops` stored the connection's destination.
#[must_use]
pub fn conn_key(netns_cookie: u64, client: ClientAddr) -> ConnKey {
    let ip = match client.0.ip() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    ConnKey {
        netns_cookie,
        addr: ip.octets(),
        port: client.0.port(),
        pad: [0; 6],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_mapped_destination_is_shown_as_ipv4() {
        let dst = OriginalDst {
            addr: gateway_common::v4_mapped([10, 1, 2, 3]),
            port: 80,
            pad: 0,
            agent: 0,
            cgroup_id: 1,
        };
        assert_eq!(
            OriginalDstAddr::from_kernel(&dst).to_string(),
            "10.1.2.3:80"
        );
    }

    #[test]
    fn ipv4_client_key_matches_kernel_form() {
        let key = conn_key(7, ClientAddr("127.0.0.1:4000".parse().unwrap()));
        assert_eq!(key.addr, gateway_common::v4_mapped([127, 0, 0, 1]));
        assert_eq!((key.port, key.netns_cookie), (4000, 7));
    }
}
