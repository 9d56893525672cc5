//! Maps shared with user space, and the load-time settings.

use aya_ebpf::{
    Global,
    macros::map,
    maps::{HashMap, LruHashMap, RingBuf},
};
use gateway_common::{
    AGENTS_MAX, AgentBinding, CONNECTIONS_MAX, ConnKey, NETNS_MAX, NetnsListener, OriginalDst,
    PendingConnect,
};

/// Port of the gateway's listener on loopback, in every agent namespace.
#[unsafe(no_mangle)]
pub static LISTEN_PORT: Global<u16> = Global::new(15001);

/// Agent cgroups, by cgroup id. Filled by user space before attaching.
#[map]
pub static AGENTS: HashMap<u64, AgentBinding> = HashMap::with_max_entries(AGENTS_MAX, 0);

/// Namespaces (by netns cookie) in which the gateway listens.
#[map]
pub static NETNS_READY: HashMap<u64, NetnsListener> = HashMap::with_max_entries(NETNS_MAX, 0);

/// Connects whose handshake has not completed, by socket cookie.
#[map]
pub static PENDING: LruHashMap<u64, PendingConnect> =
    LruHashMap::with_max_entries(CONNECTIONS_MAX, 0);

/// Original destinations of established connections, by the agent
/// socket's namespace and local address. The gateway takes each entry out
/// when it accepts the connection.
#[map]
pub static ORIGINAL_DST: LruHashMap<ConnKey, OriginalDst> =
    LruHashMap::with_max_entries(CONNECTIONS_MAX, 0);

/// Namespaces that need a listener, for user space.
#[map]
pub static NETNS_EVENTS: RingBuf = RingBuf::with_byte_size(64 * 1024, 0);
