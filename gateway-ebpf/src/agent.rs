//! Which agent the current task belongs to.

use aya_ebpf::helpers::generated::{bpf_get_current_ancestor_cgroup_id, bpf_get_current_cgroup_id};
use gateway_common::{AgentBinding, CGROUP_LEVELS_MAX, OriginalDst, SOCKET_IDLE, SocketState};

use crate::maps::AGENTS;

/// The binding of the shallowest ancestor cgroup (the current cgroup
/// included) that user space registered as an agent.
///
/// Shallowest first: an agent cgroup is usually a parent (`/agents`) of
/// the container cgroups, so the walk normally stops after one or two
/// lookups. User space rejects nested agent cgroups, so the first match is
/// the only one.
#[inline(always)]
pub fn current_agent() -> Option<AgentBinding> {
    for level in 1..=CGROUP_LEVELS_MAX {
        // SAFETY: a helper without pointer arguments; `level` is a plain
        // integer and an out-of-range level returns 0.
        let id = unsafe { bpf_get_current_ancestor_cgroup_id(level.cast_signed()) };
        if id == 0 {
            return None;
        }
        // SAFETY: the value is copied out at once, before any other map
        // operation could free it.
        if let Some(binding) = unsafe { AGENTS.get(id) } {
            return Some(*binding);
        }
    }
    None
}

/// The state a new agent socket starts with: its agent, its cgroup and
/// its namespace. `None` when the task has no agent binding.
#[inline(always)]
pub fn initial_socket_state(netns_cookie: u64) -> Option<SocketState> {
    let binding = current_agent()?;
    Some(SocketState {
        dst: OriginalDst {
            addr: [0; 16],
            port: 0,
            pad: 0,
            agent: binding.agent,
            // SAFETY: a helper without arguments.
            cgroup_id: unsafe { bpf_get_current_cgroup_id() },
        },
        netns_cookie,
        since_ns: 0,
        phase: SOCKET_IDLE,
        pad: 0,
    })
}
