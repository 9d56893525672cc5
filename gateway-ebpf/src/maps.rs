//! Maps shared with user space, and the load-time settings.

use aya_ebpf::{
    Global,
    bindings::BPF_F_NO_COMMON_LRU,
    btf_maps::SkStorage,
    macros::{btf_map, map},
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

/// A connect whose handshake has not completed, stored on the socket
/// itself: no global map to contend on or to fill, and the kernel frees
/// it with the socket.
#[btf_map]
pub static PENDING: SkStorage<PendingConnect> = SkStorage::new();

/// Original destinations of established connections, by the agent
/// socket's namespace and local address. The gateway takes each entry out
/// when it accepts the connection. Per-CPU LRU lists: inserts on
/// different CPUs do not share a lock.
#[map]
pub static ORIGINAL_DST: LruHashMap<ConnKey, OriginalDst> =
    LruHashMap::with_max_entries(CONNECTIONS_MAX, BPF_F_NO_COMMON_LRU);

/// `PENDING` for the helpers that take a map pointer (`sock_ops` and
/// `egress`, which aya's `SkStorage` methods do not cover).
#[inline(always)]
pub fn pending_map_ptr() -> *mut core::ffi::c_void {
    core::ptr::from_ref(&PENDING).cast_mut().cast()
}

/// Namespaces that need a listener, for user space.
#[map]
pub static NETNS_EVENTS: RingBuf = RingBuf::with_byte_size(64 * 1024, 0);
