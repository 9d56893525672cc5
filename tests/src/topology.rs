//! The test network: an "upstream" namespace reachable from the host namespace
//! over a veth, and optionally an "agent" namespace that has nothing but `lo`.
//!
//! ```text
//!  host netns                         upstream netns (gwtN-PID-SEQ-up)
//!  gwtNh 10.233.N.1/24  <--veth-->    gwtNu 10.233.N.2/24, 10.233.N.3/24
//!        fd00:233:N::1/64                   fd00:233:N::2/64
//!
//!  agent netns (gwtN-PID-SEQ-ag): lo only, no route anywhere
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::netns::{HostVeth, NetNs};

pub struct Topology {
    n: u8,
    // Field order is drop order: the veth (and its peer) go before the namespaces.
    _veth: HostVeth,
    upstream: NetNs,
    agent: Option<NetNs>,
}

impl Topology {
    /// Host + upstream namespace.
    pub fn new() -> Self {
        Self::build(false)
    }

    /// Host + upstream namespace + an agent namespace with only `lo`.
    pub fn with_agent_netns() -> Self {
        Self::build(true)
    }

    fn build(with_agent: bool) -> Self {
        crate::preflight::require_root();
        let (n, veth) = claim_subnet();
        // The subnet number is free again as soon as an earlier test's veth
        // is gone, possibly before that test has deleted its namespaces:
        // the names also carry a per-process sequence number, so a test
        // never deletes (or reuses) another test's namespace.
        let seq = NAMESPACE_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pid = std::process::id();
        let upstream = NetNs::new(&format!("gwt{n}-{pid}-{seq}-up"));
        let peer = format!("gwt{n}u");
        crate::netns::ip(&["link", "set", &peer, "netns", upstream.name()]);

        let host = veth.name();
        crate::netns::ip(&["addr", "add", &format!("10.233.{n}.1/24"), "dev", host]);
        crate::netns::ip(&[
            "-6",
            "addr",
            "add",
            &format!("fd00:233:{n}::1/64"),
            "dev",
            host,
            "nodad",
        ]);
        crate::netns::ip(&["link", "set", host, "up"]);

        upstream.ip(&["addr", "add", &format!("10.233.{n}.2/24"), "dev", &peer]);
        upstream.ip(&["addr", "add", &format!("10.233.{n}.3/24"), "dev", &peer]);
        upstream.ip(&[
            "-6",
            "addr",
            "add",
            &format!("fd00:233:{n}::2/64"),
            "dev",
            &peer,
            "nodad",
        ]);
        upstream.ip(&["link", "set", &peer, "up"]);

        let agent = with_agent.then(|| NetNs::new(&format!("gwt{n}-{pid}-{seq}-ag")));
        Self {
            n,
            _veth: veth,
            upstream,
            agent,
        }
    }

    /// The subnet number N in 10.233.N.0/24.
    pub fn n(&self) -> u8 {
        self.n
    }

    pub fn upstream_ns(&self) -> &NetNs {
        &self.upstream
    }

    pub fn agent_ns(&self) -> &NetNs {
        self.agent
            .as_ref()
            .expect("this topology was built without an agent namespace")
    }

    /// 10.233.N.2: the upstream's address the policies allow.
    pub fn upstream_v4(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 233, self.n, 2)
    }

    /// 10.233.N.3: a second upstream address, which policies leave out.
    pub fn upstream_v4_other(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 233, self.n, 3)
    }

    /// `fd00:233:N::2`
    pub fn upstream_v6(&self) -> Ipv6Addr {
        format!("fd00:233:{}::2", self.n)
            .parse()
            .expect("valid IPv6")
    }

    /// 10.233.N.1: where connections made from the host namespace come from.
    pub fn host_v4(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 233, self.n, 1)
    }

    /// `fd00:233:N::1`
    pub fn host_v6(&self) -> Ipv6Addr {
        format!("fd00:233:{}::1", self.n)
            .parse()
            .expect("valid IPv6")
    }

    pub fn host_addr(&self, family_of: IpAddr) -> IpAddr {
        match family_of {
            IpAddr::V4(_) => IpAddr::V4(self.host_v4()),
            IpAddr::V6(_) => IpAddr::V6(self.host_v6()),
        }
    }
}

impl Default for Topology {
    fn default() -> Self {
        Self::new()
    }
}

/// Claims a free N by creating the veth `gwtNh`: creation fails if another
/// test (in this or another process) holds that N.
static NAMESPACE_SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn claim_subnet() -> (u8, HostVeth) {
    let seed = std::process::id();
    let mut last_error = String::new();
    for i in 0..254u32 {
        let n = u8::try_from((seed + i * 37) % 254 + 1).expect("1..=254");
        match HostVeth::try_new(&format!("gwt{n}h"), &format!("gwt{n}u")) {
            Ok(veth) => return (n, veth),
            Err(e) if e.contains("File exists") => last_error = e,
            Err(e) => panic!("creating the test veth: {e}"),
        }
    }
    panic!("no free 10.233.N.0/24 subnet (veth gwtNh) left; last error: {last_error}");
}
