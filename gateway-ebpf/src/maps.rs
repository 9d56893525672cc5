//! Maps shared with user space, and the load-time settings.

use core::ptr;

use aya_ebpf::{
    Global,
    bindings::{BPF_F_NO_COMMON_LRU, BPF_SK_STORAGE_GET_F_CREATE, bpf_sock},
    btf_maps::SkStorage,
    helpers::generated::{bpf_sk_storage_delete, bpf_sk_storage_get},
    macros::{btf_map, map},
    maps::{HashMap, LruHashMap, RingBuf},
};
use gateway_common::{
    AGENTS_MAX, AgentBinding, CONNECTIONS_MAX, ConnKey, NETNS_MAX, NetnsListener, OriginalDst,
    SocketState,
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

/// Each agent TCP socket's state, stored on the socket itself: no global
/// map to contend on or to fill, and the kernel frees it with the socket.
#[btf_map]
pub static SOCKETS: SkStorage<SocketState> = SkStorage::new();

/// Original destinations of established connections, by the agent
/// socket's namespace and local address. The gateway takes each entry out
/// when it accepts the connection. Per-CPU LRU lists: inserts on
/// different CPUs do not share a lock.
#[map]
pub static ORIGINAL_DST: LruHashMap<ConnKey, OriginalDst> =
    LruHashMap::with_max_entries(CONNECTIONS_MAX, BPF_F_NO_COMMON_LRU);

/// `SOCKETS` for the storage helpers, which take a map pointer (aya's
/// `SkStorage` methods cover only `cgroup_sock_addr` programs).
#[inline(always)]
fn sockets_map_ptr() -> *mut core::ffi::c_void {
    core::ptr::from_ref(&SOCKETS).cast_mut().cast()
}

/// The state of `sk`, or null if it has none.
///
/// # Safety
/// `sk` must be a non-null socket pointer the verifier accepts for
/// `bpf_sk_storage_get` (from a program context).
#[inline(always)]
pub unsafe fn socket_state(sk: *mut bpf_sock) -> *mut SocketState {
    // SAFETY: upheld by the caller; without the create flag the helper
    // returns existing storage or null.
    unsafe { bpf_sk_storage_get(sockets_map_ptr(), sk.cast(), ptr::null_mut(), 0) }.cast()
}

/// The state of `sk`, created from `initial` if it has none; null if the
/// kernel could not allocate it.
///
/// # Safety
/// As for [`socket_state`].
#[inline(always)]
pub unsafe fn socket_state_or_create(
    sk: *mut bpf_sock,
    initial: &mut SocketState,
) -> *mut SocketState {
    // SAFETY: upheld by the caller; `initial` is a valid value the helper
    // copies into new storage.
    unsafe {
        bpf_sk_storage_get(
            sockets_map_ptr(),
            sk.cast(),
            ptr::from_mut(initial).cast(),
            u64::from(BPF_SK_STORAGE_GET_F_CREATE),
        )
    }
    .cast()
}

/// Drops `sk`'s state.
///
/// # Safety
/// As for [`socket_state`].
#[inline(always)]
pub unsafe fn forget_socket(sk: *mut bpf_sock) {
    // SAFETY: upheld by the caller. Failure only means the storage stays
    // until the socket closes.
    let _ = unsafe { bpf_sk_storage_delete(sockets_map_ptr(), sk.cast()) };
}

/// Namespaces that need a listener, for user space.
#[map]
pub static NETNS_EVENTS: RingBuf = RingBuf::with_byte_size(64 * 1024, 0);
