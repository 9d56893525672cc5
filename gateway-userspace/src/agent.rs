//! Agents as the proxy knows them: an id the kernel records with each
//! connection, a name for logs, and a policy that may be reloaded.

use std::sync::Arc;

use crate::policy::{Policy, store::PolicyStore};

/// Index of an agent in the configuration; the kernel copies it from the
/// `AGENTS` map into each connection's original destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AgentId(pub u32);

#[derive(Debug)]
pub struct Agent {
    pub name: Arc<str>,
    pub policy: Arc<PolicyStore>,
}

impl Agent {
    /// The policy in force now: each decision takes it afresh, so a
    /// reload applies to the next request of an open connection.
    #[must_use]
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.current()
    }
}

/// All agents of one gateway, by `AgentId`.
#[derive(Debug, Default)]
pub struct Agents(Vec<Agent>);

impl Agents {
    /// Adds an agent and returns its id.
    pub fn add(&mut self, agent: Agent) -> AgentId {
        let id = AgentId(u32::try_from(self.0.len()).expect("fewer than 2^32 agents"));
        self.0.push(agent);
        id
    }

    #[must_use]
    pub fn get(&self, id: AgentId) -> Option<&Agent> {
        self.0.get(id.0 as usize)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Agent> {
        self.0.iter()
    }
}
