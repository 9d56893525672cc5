//! `connect4`/`connect6`: send every TCP connect of an agent to the
//! gateway's loopback listener and remember where it was going.

use aya_ebpf::{
    EbpfContext as _,
    helpers::generated::{
        bpf_get_current_cgroup_id, bpf_get_current_pid_tgid, bpf_get_netns_cookie, bpf_ktime_get_ns,
    },
    macros::cgroup_sock_addr,
    programs::SockAddrContext,
};
use core::ptr::read_volatile;

use aya_log_ebpf::{debug, warn};

use gateway_common::{Ip6Bytes, NetnsEvent, SOCKET_CONNECTING, v4_mapped};

use crate::{
    agent::initial_socket_state,
    maps::{LISTEN_PORT, NETNS_EVENTS, NETNS_READY, socket_state, socket_state_or_create},
};

// Context fields are read with `read_volatile`: the verifier accepts
// context reads only at a constant offset from the context pointer, and
// volatile reads keep the compiler from turning them into loads through a
// computed pointer.

const ALLOW: i32 = 1;
const DENY: i32 = 0;

const SOCK_STREAM: u32 = 1;
const IPPROTO_TCP: u32 = 6;

const LOOPBACK4: [u8; 4] = [127, 0, 0, 1];
const LOOPBACK6: Ip6Bytes = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

#[cgroup_sock_addr(connect4)]
pub fn gw_connect4(ctx: SockAddrContext) -> i32 {
    try_connect4(&ctx).unwrap_or(DENY)
}

#[cgroup_sock_addr(connect6)]
pub fn gw_connect6(ctx: SockAddrContext) -> i32 {
    try_connect6(&ctx).unwrap_or(DENY)
}

fn try_connect4(ctx: &SockAddrContext) -> Option<i32> {
    // SAFETY: `sock_addr` is the context pointer the kernel passed in; the
    // verifier checks every field access against `struct bpf_sock_addr`.
    let addr = unsafe { &mut *ctx.sock_addr };
    // SAFETY: plain field reads of the context (see the note at the top).
    let (sock_type, protocol, user_ip4, user_port) = unsafe {
        (
            read_volatile(&raw const addr.type_),
            read_volatile(&raw const addr.protocol),
            read_volatile(&raw const addr.user_ip4),
            read_volatile(&raw const addr.user_port),
        )
    };
    if !is_tcp(sock_type, protocol) {
        // UDP and the rest: refused (see sock_create for raw).
        debug!(
            ctx,
            "connect refused: socket type {} protocol {} is not TCP", sock_type, protocol
        );
        return None;
    }
    let listen_port = LISTEN_PORT.load();
    let dst_ip = user_ip4.to_ne_bytes();
    let dst_port = port_from_user(user_port);
    if dst_ip == LOOPBACK4 && dst_port == listen_port {
        // Already aimed at the gateway: a direct connect to the listener,
        // or a second gateway program seeing our rewrite. Record nothing,
        // so the gateway refuses it for want of an original destination.
        return Some(ALLOW);
    }
    record(ctx, v4_mapped(dst_ip), dst_port)?;
    addr.user_ip4 = u32::from_ne_bytes(LOOPBACK4);
    addr.user_port = port_to_user(listen_port);
    Some(ALLOW)
}

fn try_connect6(ctx: &SockAddrContext) -> Option<i32> {
    // SAFETY: as in `try_connect4`.
    let addr = unsafe { &mut *ctx.sock_addr };
    // SAFETY: plain field reads of the context (see the note at the top).
    let (sock_type, protocol, user_ip6, user_port) = unsafe {
        (
            read_volatile(&raw const addr.type_),
            read_volatile(&raw const addr.protocol),
            [
                read_volatile(&raw const addr.user_ip6[0]),
                read_volatile(&raw const addr.user_ip6[1]),
                read_volatile(&raw const addr.user_ip6[2]),
                read_volatile(&raw const addr.user_ip6[3]),
            ],
            read_volatile(&raw const addr.user_port),
        )
    };
    if !is_tcp(sock_type, protocol) {
        debug!(
            ctx,
            "connect refused: socket type {} protocol {} is not TCP", sock_type, protocol
        );
        return None;
    }
    let listen_port = LISTEN_PORT.load();
    let dst_ip = ip6_bytes(user_ip6);
    let dst_port = port_from_user(user_port);
    // A v4-mapped destination travels over IPv4, so it goes to the IPv4
    // listener (::ffff:127.0.0.1); a real IPv6 destination goes to [::1].
    let target = if is_v4_mapped(&dst_ip) {
        v4_mapped(LOOPBACK4)
    } else {
        LOOPBACK6
    };
    if dst_port == listen_port && (dst_ip == LOOPBACK6 || dst_ip == v4_mapped(LOOPBACK4)) {
        return Some(ALLOW);
    }
    record(ctx, dst_ip, dst_port)?;
    addr.user_ip6 = ip6_words(target);
    addr.user_port = port_to_user(listen_port);
    Some(ALLOW)
}

/// Writes the original destination into the socket's state, and asks
/// user space for a listener if this namespace has none. `None` denies.
#[inline(always)]
fn record(ctx: &SockAddrContext, addr: Ip6Bytes, port: u16) -> Option<()> {
    // SAFETY: a context field read; for these programs the kernel always
    // provides the socket.
    let sk = unsafe { read_volatile(&raw const (*ctx.sock_addr).__bindgen_anon_1.sk) };
    if sk.is_null() {
        return None;
    }
    // SAFETY: `sk` is the context's socket, non-null.
    let mut state = unsafe { socket_state(sk) };
    if state.is_null() {
        // Normally `sock_create` made it. A socket made before the gateway
        // attached has none: set it up now.
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
    state.phase = SOCKET_CONNECTING;
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

#[inline(always)]
fn is_tcp(sock_type: u32, protocol: u32) -> bool {
    sock_type == SOCK_STREAM && (protocol == IPPROTO_TCP || protocol == 0)
}

/// `user_port` holds the port in network order in its low 16 bits.
#[inline(always)]
#[expect(
    clippy::cast_possible_truncation,
    reason = "the port is the low 16 bits by definition"
)]
fn port_from_user(user_port: u32) -> u16 {
    u16::from_be(user_port as u16)
}

#[inline(always)]
fn port_to_user(port: u16) -> u32 {
    u32::from(port.to_be())
}

#[inline(always)]
pub(crate) fn ip6_bytes(words: [u32; 4]) -> Ip6Bytes {
    let mut out = [0u8; 16];
    let mut i = 0;
    while i < 4 {
        let b = words[i].to_ne_bytes();
        out[i * 4] = b[0];
        out[i * 4 + 1] = b[1];
        out[i * 4 + 2] = b[2];
        out[i * 4 + 3] = b[3];
        i += 1;
    }
    out
}

#[inline(always)]
fn ip6_words(bytes: Ip6Bytes) -> [u32; 4] {
    [
        u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
        u32::from_ne_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        u32::from_ne_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
        u32::from_ne_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]),
    ]
}

#[inline(always)]
fn is_v4_mapped(addr: &Ip6Bytes) -> bool {
    addr[..10] == [0u8; 10] && addr[10] == 0xff && addr[11] == 0xff
}

/// `sendmsg4`/`sendmsg6`: unconnected UDP sends from agents are refused.
/// (Connected UDP is refused at connect time above.)
#[cgroup_sock_addr(sendmsg4)]
pub fn gw_sendmsg4(ctx: SockAddrContext) -> i32 {
    debug!(&ctx, "UDP send refused");
    DENY
}

#[cgroup_sock_addr(sendmsg6)]
pub fn gw_sendmsg6(ctx: SockAddrContext) -> i32 {
    debug!(&ctx, "UDP send refused");
    DENY
}
