//! The setup most tests share: an agent cgroup, the network topology, an
//! upstream server in the upstream namespace, and a gateway whose policy the
//! test chooses. Fields drop in order: gateway (detach) first, cgroup last.

use std::net::{IpAddr, SocketAddr};

use crate::cgroup::AgentCgroup;
use crate::gateway::Gateway;
use crate::gateway::config::Rule;
use crate::topology::Topology;
use crate::upstream::UpstreamServer;

pub struct Scenario {
    pub gateway: Gateway,
    pub upstream: UpstreamServer,
    pub topo: Topology,
    pub agent: AgentCgroup,
}

impl Scenario {
    /// Agents in the host namespace. `rules` gets the topology and the
    /// upstream server's port and returns the policy.
    pub fn start(tag: &str, rules: impl FnOnce(&Topology, u16) -> Vec<Rule>) -> Self {
        Self::build(tag, Topology::new(), rules)
    }

    /// Same, with an agent namespace (only `lo`) in the topology.
    pub fn start_with_agent_netns(
        tag: &str,
        rules: impl FnOnce(&Topology, u16) -> Vec<Rule>,
    ) -> Self {
        Self::build(tag, Topology::with_agent_netns(), rules)
    }

    fn build(tag: &str, topo: Topology, rules: impl FnOnce(&Topology, u16) -> Vec<Rule>) -> Self {
        crate::preflight::require_root_and_gateway();
        let agent = AgentCgroup::new(tag);
        let upstream = UpstreamServer::in_netns(topo.upstream_ns());
        let rules = rules(&topo, upstream.port());
        let gateway = Gateway::start(tag, &agent, &rules);
        Self {
            gateway,
            upstream,
            topo,
            agent,
        }
    }

    /// 10.233.N.2:<upstream port>
    pub fn upstream_v4(&self) -> SocketAddr {
        SocketAddr::new(self.topo.upstream_v4().into(), self.upstream.port())
    }

    /// [fd00:233:N::2]:<upstream port>
    pub fn upstream_v6(&self) -> SocketAddr {
        SocketAddr::new(self.topo.upstream_v6().into(), self.upstream.port())
    }

    /// The host end of the veth for the address family of `dst`: where the
    /// gateway's upstream connections come from.
    pub fn host_side(&self, dst: SocketAddr) -> IpAddr {
        self.topo.host_addr(dst.ip())
    }
}

/// The usual policy: allow the upstream's allowed addresses (10.233.N.2 and
/// `fd00:233:N::2`, not 10.233.N.3) on the upstream server's port only.
pub fn allow_upstream(topo: &Topology, port: u16) -> Vec<Rule> {
    vec![
        Rule::allow(
            "upstream",
            &[
                format!("{}/32", topo.upstream_v4()),
                format!("{}/128", topo.upstream_v6()),
            ],
        )
        .ports(&[port]),
    ]
}
