//! Types shared by the kernel programs (`gateway-ebpf`) and the daemon
//! (`gateway-userspace`).
//!
//! Every type here crosses the user/kernel boundary through a BPF map, so
//! each is `#[repr(C)]`, has no implicit padding (padding bytes would be part
//! of a hash key), and is `aya::Pod` behind the `user` feature.
#![no_std]

/// Names of the maps and programs in the object file. User space looks
/// them up by these names; keeping them here stops the two sides drifting.
pub mod names {
    pub const AGENTS: &str = "AGENTS";
    pub const NETNS_READY: &str = "NETNS_READY";
    pub const SOCKETS: &str = "SOCKETS";
    pub const ORIGINAL_DST: &str = "ORIGINAL_DST";
    pub const NETNS_EVENTS: &str = "NETNS_EVENTS";
    pub const LISTEN_PORT: &str = "LISTEN_PORT";

    pub const CONNECT4: &str = "gw_connect4";
    pub const CONNECT6: &str = "gw_connect6";
    pub const SENDMSG4: &str = "gw_sendmsg4";
    pub const SENDMSG6: &str = "gw_sendmsg6";
    pub const RECVMSG4: &str = "gw_recvmsg4";
    pub const RECVMSG6: &str = "gw_recvmsg6";
    pub const SOCK_OPS: &str = "gw_sock_ops";
    pub const SOCK_CREATE: &str = "gw_sock_create";
    pub const EGRESS: &str = "gw_egress";
}

/// Capacity of the connection-tracking maps. Both are LRU maps, so a
/// connect storm evicts the oldest entries instead of failing inserts; an
/// evicted connection has no recorded destination and is refused.
pub const CONNECTIONS_MAX: u32 = 65_536;
/// How many agent cgroups one gateway can bind.
pub const AGENTS_MAX: u32 = 1_024;
/// How many network namespaces can hold a gateway listener at once.
pub const NETNS_MAX: u32 = 4_096;
/// Depth of the cgroup tree searched for an agent binding.
pub const CGROUP_LEVELS_MAX: u32 = 16;
/// How long (ns) the egress program holds back the SYN of a connection
/// made in a namespace that has no gateway listener yet. TCP retransmits
/// the SYN after about one second, by which time the listener is there.
/// After this, the SYN goes out and meets a closed port: the connect fails.
pub const NETNS_SETUP_GRACE_NS: u64 = 5_000_000_000;

/// Which agent a cgroup belongs to. Value of the `AGENTS` map, keyed by
/// cgroup id (the inode number of the cgroup's directory in cgroupfs).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentBinding {
    /// Index of the agent in the gateway's configuration.
    pub agent: u32,
    pub reserved: u32,
}

/// An IPv6 address, or an IPv4 address in its v4-mapped IPv6 form
/// (`::ffff:a.b.c.d`), as 16 bytes in network order. One representation
/// for both families keeps keys comparable whichever socket family the
/// agent used.
pub type Ip6Bytes = [u8; 16];

/// The destination an agent asked for, as the kernel saw it in `connect()`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OriginalDst {
    pub addr: Ip6Bytes,
    /// Host byte order.
    pub port: u16,
    pub pad: u16,
    /// `AgentBinding::agent` of the connecting socket's cgroup.
    pub agent: u32,
    /// The cgroup the connecting task was in.
    pub cgroup_id: u64,
}

/// An agent's TCP socket as the kernel programs track it, in the socket's
/// own storage (`SOCKETS`): created with the socket, given its
/// destination by `connect4/6`, dropped once the connection is handed to
/// the gateway.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketState {
    /// Agent and cgroup from creation; address and port from connect.
    pub dst: OriginalDst,
    /// Network namespace of the socket (`bpf_get_netns_cookie`).
    pub netns_cookie: u64,
    /// `bpf_ktime_get_ns` at connect time, when the namespace had no
    /// gateway listener yet; 0 otherwise.
    pub since_ns: u64,
    /// `SOCKET_IDLE` or `SOCKET_CONNECTING`.
    pub phase: u32,
    pub pad: u32,
}

/// `SocketState::phase`: created, not connecting (or not redirected).
pub const SOCKET_IDLE: u32 = 0;
/// `SocketState::phase`: redirected to the gateway, handshake under way.
pub const SOCKET_CONNECTING: u32 = 1;
/// `SocketState::phase`: a UDP socket whose DNS queries go to the
/// gateway; `dst` is the name server the agent addressed, which replies
/// appear to come from.
pub const SOCKET_DNS: u32 = 2;

/// The DNS port: the only UDP destination agents may use, and only
/// through the gateway.
pub const DNS_PORT: u16 = 53;

/// The agent side of a redirected connection, as the gateway's listener
/// sees its peer. Key of the `ORIGINAL_DST` map.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnKey {
    pub netns_cookie: u64,
    /// The agent socket's local address (v4-mapped for IPv4).
    pub addr: Ip6Bytes,
    /// The agent socket's local port, host byte order.
    pub port: u16,
    pub pad: [u8; 6],
}

/// Sent to user space when an agent connects from a network namespace
/// where the gateway has no listener yet.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetnsEvent {
    pub netns_cookie: u64,
    /// `bpf_get_current_pid_tgid`: the thread group id is in the high half.
    pub pid_tgid: u64,
}

/// Value of the `NETNS_READY` map: a listener for this namespace exists.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetnsListener {
    pub reserved: u64,
}

/// Builds the v4-mapped form of an IPv4 address given in network order.
#[must_use]
pub const fn v4_mapped(octets: [u8; 4]) -> Ip6Bytes {
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, octets[0], octets[1], octets[2], octets[3],
    ]
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY (for each impl): the types are `repr(C)`, `Copy`, made only of
    // integers and byte arrays, and have no implicit padding, so every bit
    // pattern is a valid value and no uninitialised bytes are read.
    use super::{AgentBinding, ConnKey, NetnsEvent, NetnsListener, OriginalDst, SocketState};

    // SAFETY: see above.
    unsafe impl aya::Pod for AgentBinding {}
    // SAFETY: see above.
    unsafe impl aya::Pod for OriginalDst {}
    // SAFETY: see above.
    unsafe impl aya::Pod for SocketState {}
    // SAFETY: see above.
    unsafe impl aya::Pod for ConnKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for NetnsEvent {}
    // SAFETY: see above.
    unsafe impl aya::Pod for NetnsListener {}
}

// No implicit padding: sizes equal the sum of the fields.
const _: () = assert!(core::mem::size_of::<OriginalDst>() == 32);
const _: () = assert!(core::mem::size_of::<SocketState>() == 56);
const _: () = assert!(core::mem::size_of::<ConnKey>() == 32);
const _: () = assert!(core::mem::size_of::<NetnsEvent>() == 16);
