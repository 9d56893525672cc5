//! `connect4`/`connect6`: send every TCP connect of an agent to the
//! gateway's loopback listener and remember where it was going. UDP may
//! only connect to a DNS server, which also means the gateway (see `dns`).

use core::ptr::read_volatile;

use aya_ebpf::{
    EbpfContext as _,
    helpers::generated::{
        bpf_get_current_cgroup_id, bpf_get_current_pid_tgid, bpf_get_netns_cookie, bpf_ktime_get_ns,
    },
    macros::cgroup_sock_addr,
    programs::SockAddrContext,
};
use aya_log_ebpf::{debug, warn};
use gateway_common::{DNS_PORT, Ip6Bytes, NetnsEvent, SOCKET_CONNECTING, SOCKET_DNS, v4_mapped};

use crate::{
    addr::{
        LOOPBACK4, ip6_words, is_listener6, is_tcp, is_udp, loopback_for, port_to_user,
        socket_kind, user4, user6,
    },
    agent::initial_socket_state,
    maps::{LISTEN_PORT, NETNS_EVENTS, NETNS_READY, socket_state, socket_state_or_create},
};

pub const ALLOW: i32 = 1;
pub const DENY: i32 = 0;

#[cgroup_sock_addr(connect4)]
pub fn gw_connect4(ctx: SockAddrContext) -> i32 {
    try_connect4(&ctx).unwrap_or(DENY)
}

#[cgroup_sock_addr(connect6)]
pub fn gw_connect6(ctx: SockAddrContext) -> i32 {
    try_connect6(&ctx).unwrap_or(DENY)
}

fn try_connect4(ctx: &SockAddrContext) -> Option<i32> {
    // SAFETY: `sock_addr` is the context pointer the kernel passed in.
    let (dst_ip, dst_port) = unsafe { user4(ctx.sock_addr) };
    // SAFETY: as above.
    let (sock_type, protocol) = unsafe { socket_kind(ctx.sock_addr) };
    let listen_port = LISTEN_PORT.load();
    let phase = phase_for(ctx, sock_type, protocol, dst_port)?;
    if dst_ip == LOOPBACK4 && dst_port == listen_port {
        // Already aimed at the gateway: a direct connect to the listener,
        // or a second gateway program seeing our rewrite. Record nothing,
        // so the gateway refuses it for want of an original destination.
        return Some(ALLOW);
    }
    record_destination(ctx, v4_mapped(dst_ip), dst_port, phase)?;
    redirect4(ctx, listen_port);
    Some(ALLOW)
}

fn try_connect6(ctx: &SockAddrContext) -> Option<i32> {
    // SAFETY: `sock_addr` is the context pointer the kernel passed in.
    let (dst_ip, dst_port) = unsafe { user6(ctx.sock_addr) };
    // SAFETY: as above.
    let (sock_type, protocol) = unsafe { socket_kind(ctx.sock_addr) };
    let listen_port = LISTEN_PORT.load();
    let phase = phase_for(ctx, sock_type, protocol, dst_port)?;
    if is_listener6(&dst_ip, dst_port, listen_port) {
        return Some(ALLOW);
    }
    record_destination(ctx, dst_ip, dst_port, phase)?;
    redirect6(ctx, &dst_ip, listen_port);
    Some(ALLOW)
}

/// Points an IPv4 connect or send at the gateway's listener.
#[inline(always)]
pub fn redirect4(ctx: &SockAddrContext, listen_port: u16) {
    // SAFETY: `sock_addr` is the context pointer; these fields are
    // writable in connect and sendmsg programs.
    let addr = unsafe { &mut *ctx.sock_addr };
    addr.user_ip4 = u32::from_ne_bytes(LOOPBACK4);
    addr.user_port = port_to_user(listen_port);
}

/// Points an IPv6 connect or send for `dst` at the gateway's listener.
#[inline(always)]
pub fn redirect6(ctx: &SockAddrContext, dst: &Ip6Bytes, listen_port: u16) {
    // SAFETY: as in `redirect4`.
    let addr = unsafe { &mut *ctx.sock_addr };
    addr.user_ip6 = ip6_words(loopback_for(dst));
    addr.user_port = port_to_user(listen_port);
}

/// TCP is redirected; UDP only to port 53 (DNS, answered by the gateway);
/// anything else is refused (raw sockets never get this far, see
/// `sock_create`).
#[inline(always)]
fn phase_for(ctx: &SockAddrContext, sock_type: u32, protocol: u32, dst_port: u16) -> Option<u32> {
    if is_tcp(sock_type, protocol) {
        Some(SOCKET_CONNECTING)
    } else if is_udp(sock_type, protocol) && dst_port == DNS_PORT {
        Some(SOCKET_DNS)
    } else {
        debug!(
            ctx,
            "connect refused: socket type {} protocol {} port {} is neither TCP nor DNS",
            sock_type,
            protocol,
            dst_port
        );
        None
    }
}

/// Writes the original destination into the socket's state, and asks
/// user space for a listener if this namespace has none. `None` denies.
#[inline(always)]
pub fn record_destination(
    ctx: &SockAddrContext,
    addr: Ip6Bytes,
    port: u16,
    phase: u32,
) -> Option<()> {
    // SAFETY: a context field read; for these programs the kernel always
    // provides the socket.
    let sk = unsafe { read_volatile(&raw const (*ctx.sock_addr).__bindgen_anon_1.sk) };
    if sk.is_null() {
        return None;
    }
    // SAFETY: `sk` is the context's socket, non-null.
    let mut state = unsafe { socket_state(sk) };
    if state.is_null() {
        // TCP sockets get their state in `sock_create`. UDP sockets, and
        // sockets made before the gateway attached, get it here.
        // SAFETY: the helper takes the context pointer the kernel gave us.
        let netns_cookie = unsafe { bpf_get_netns_cookie(ctx.as_ptr()) };
        let Some(mut initial) = initial_socket_state(netns_cookie) else {
            // Attached here but no agent binding: the maps and the
            // attachment disagree (a gateway shutting down). Refuse.
            // SAFETY: no arguments.
            let cgroup = unsafe { bpf_get_current_cgroup_id() };
            warn!(
                ctx,
                "connect refused: cgroup {} has no agent binding", cgroup
            );
            return None;
        };
        // SAFETY: as above.
        state = unsafe { socket_state_or_create(sk, &mut initial) };
        if state.is_null() {
            return None; // Out of memory: refuse rather than go unrecorded.
        }
    }
    // SAFETY: non-null pointer to this socket's own state, which only
    // programs running for this socket touch.
    let state = unsafe { &mut *state };
    state.dst.addr = addr;
    state.dst.port = port;
    state.phase = phase;
    state.since_ns = 0;
    // SAFETY: only tests for presence.
    if unsafe { NETNS_READY.get(state.netns_cookie) }.is_none() {
        // SAFETY: no arguments.
        state.since_ns = unsafe { bpf_ktime_get_ns() };
        let event = NetnsEvent {
            netns_cookie: state.netns_cookie,
            // SAFETY: no arguments.
            pid_tgid: unsafe { bpf_get_current_pid_tgid() },
        };
        // Best effort: if the ring is full, the next connect asks again.
        let _ = NETNS_EVENTS.output::<NetnsEvent>(event, 0);
    }
    Some(())
}
