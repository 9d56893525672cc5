//! `egress`: hold back the SYN of a connection made in a namespace the
//! gateway has no listener in yet.
//!
//! Without this, the first connect from a new container would meet a
//! closed loopback port and fail. Dropping the SYN makes TCP retransmit it
//! about a second later; user space, woken by the ring buffer event from
//! `connect`, opens the listener in the meantime. After the grace period
//! the SYN is let through and a gateway that never came up means a refused
//! connection: the agent never goes direct either way.

use aya_ebpf::{
    EbpfContext as _,
    helpers::generated::{bpf_get_socket_cookie, bpf_ktime_get_ns},
    macros::cgroup_skb,
    programs::SkBuffContext,
};
use gateway_common::NETNS_SETUP_GRACE_NS;

use crate::maps::{NETNS_READY, PENDING};

const PASS: i32 = 1;
const DROP: i32 = 0;

#[cgroup_skb(egress)]
pub fn gw_egress(ctx: SkBuffContext) -> i32 {
    // SAFETY: the helper takes the context pointer the kernel passed in.
    let cookie = unsafe { bpf_get_socket_cookie(ctx.as_ptr()) };
    // SAFETY: fields are copied out at once.
    let Some(pending) = (unsafe { PENDING.get(cookie) }).copied() else {
        return PASS; // Established, or not a redirected connection.
    };
    // SAFETY: only tests for presence.
    if unsafe { NETNS_READY.get(pending.netns_cookie) }.is_some() {
        return PASS;
    }
    // SAFETY: no arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    if now.wrapping_sub(pending.since_ns) < NETNS_SETUP_GRACE_NS {
        DROP
    } else {
        PASS
    }
}
