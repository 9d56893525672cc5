//! `egress`: hold back the SYN of a connection made in a namespace the
//! gateway has no listener in yet.
//!
//! Without this, the first connect from a new container would meet a
//! closed loopback port and fail. Dropping the SYN makes TCP retransmit it
//! shortly after (see `sock_ops`); user space, woken by the ring buffer
//! event from `connect`, opens the listener in the meantime. After the
//! grace period the SYN is let through and a gateway that never came up
//! means a refused connection: the agent never goes direct either way.

use core::ptr::read_volatile;

use aya_ebpf::{helpers::generated::bpf_ktime_get_ns, macros::cgroup_skb, programs::SkBuffContext};
use gateway_common::{NETNS_SETUP_GRACE_NS, SOCKET_CONNECTING};

use crate::maps::{NETNS_READY, socket_state};

const PASS: i32 = 1;
const DROP: i32 = 0;

#[cgroup_skb(egress)]
pub fn gw_egress(ctx: SkBuffContext) -> i32 {
    // SAFETY: `skb` is the context pointer; reading its `sk` field is a
    // context access the verifier checks.
    let sk = unsafe { read_volatile(&raw const (*ctx.skb.skb).__bindgen_anon_2.sk) };
    if sk.is_null() {
        return PASS;
    }
    // SAFETY: `sk` is the packet's socket, non-null (checked above).
    let state = unsafe { socket_state(sk) };
    if state.is_null() {
        return PASS; // Not an agent TCP socket (or done with the gateway).
    }
    // SAFETY: non-null pointer to this socket's state; fields are copied.
    let (phase, netns_cookie, since_ns) =
        unsafe { ((*state).phase, (*state).netns_cookie, (*state).since_ns) };
    if phase != SOCKET_CONNECTING {
        return PASS;
    }
    // SAFETY: only tests for presence.
    if unsafe { NETNS_READY.get(netns_cookie) }.is_some() {
        return PASS;
    }
    // SAFETY: no arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    if now.wrapping_sub(since_ns) < NETNS_SETUP_GRACE_NS {
        DROP
    } else {
        PASS
    }
}
