//! DNS: the only UDP agents may send. Queries to port 53 of any server go
//! to the gateway's own DNS responder on the loopback listener port, which
//! answers only names the agent's policy can reach. Replies are made to
//! look as if they came from the server the agent addressed, which is what
//! resolvers check.
//!
//! `sendmsg4/6` redirect unconnected sends (connected sockets were
//! redirected in `connect`); `recvmsg4/6` restore the reply's source.

use core::ptr::read_volatile;

use aya_ebpf::{macros::cgroup_sock_addr, programs::SockAddrContext};
use aya_log_ebpf::debug;
use gateway_common::{DNS_PORT, SOCKET_DNS, v4_mapped};

use crate::{
    addr::{
        LOOPBACK4, ip6_bytes, ip6_words, is_listener6, is_v4_mapped, loopback_for, port_from_user,
        port_to_user,
    },
    connect::{ALLOW, DENY, record_destination},
    maps::{LISTEN_PORT, socket_state},
};

#[cgroup_sock_addr(sendmsg4)]
pub fn gw_sendmsg4(ctx: SockAddrContext) -> i32 {
    // SAFETY: `sock_addr` is the context pointer; the verifier checks each
    // field access. Reads are volatile, as in `connect`.
    let addr = unsafe { &mut *ctx.sock_addr };
    // SAFETY: as above.
    let (user_ip4, user_port) = unsafe {
        (
            read_volatile(&raw const addr.user_ip4),
            read_volatile(&raw const addr.user_port),
        )
    };
    let port = port_from_user(user_port);
    if port != DNS_PORT {
        debug!(&ctx, "UDP send refused: port {} is not DNS", port);
        return DENY;
    }
    if record_destination(&ctx, v4_mapped(user_ip4.to_ne_bytes()), port, SOCKET_DNS).is_none() {
        return DENY;
    }
    addr.user_ip4 = u32::from_ne_bytes(LOOPBACK4);
    addr.user_port = port_to_user(LISTEN_PORT.load());
    ALLOW
}

#[cgroup_sock_addr(sendmsg6)]
pub fn gw_sendmsg6(ctx: SockAddrContext) -> i32 {
    // SAFETY: as in `gw_sendmsg4`.
    let addr = unsafe { &mut *ctx.sock_addr };
    // SAFETY: as above.
    let (user_ip6, user_port) = unsafe {
        (
            [
                read_volatile(&raw const addr.user_ip6[0]),
                read_volatile(&raw const addr.user_ip6[1]),
                read_volatile(&raw const addr.user_ip6[2]),
                read_volatile(&raw const addr.user_ip6[3]),
            ],
            read_volatile(&raw const addr.user_port),
        )
    };
    let port = port_from_user(user_port);
    if port != DNS_PORT {
        debug!(&ctx, "UDP send refused: port {} is not DNS", port);
        return DENY;
    }
    let dst = ip6_bytes(user_ip6);
    if record_destination(&ctx, dst, port, SOCKET_DNS).is_none() {
        return DENY;
    }
    addr.user_ip6 = ip6_words(loopback_for(&dst));
    addr.user_port = port_to_user(LISTEN_PORT.load());
    ALLOW
}

#[cgroup_sock_addr(recvmsg4)]
pub fn gw_recvmsg4(ctx: SockAddrContext) -> i32 {
    // SAFETY: as in `gw_sendmsg4`.
    let addr = unsafe { &mut *ctx.sock_addr };
    // SAFETY: as above.
    let (user_ip4, user_port) = unsafe {
        (
            read_volatile(&raw const addr.user_ip4),
            read_volatile(&raw const addr.user_port),
        )
    };
    if user_ip4.to_ne_bytes() != LOOPBACK4 || port_from_user(user_port) != LISTEN_PORT.load() {
        return ALLOW;
    }
    if let Some((server, port)) = dns_server(&ctx)
        && is_v4_mapped(&server)
    {
        addr.user_ip4 = u32::from_ne_bytes([server[12], server[13], server[14], server[15]]);
        addr.user_port = port_to_user(port);
    }
    // recvmsg programs cannot refuse; they only rewrite.
    ALLOW
}

#[cgroup_sock_addr(recvmsg6)]
pub fn gw_recvmsg6(ctx: SockAddrContext) -> i32 {
    // SAFETY: as in `gw_sendmsg4`.
    let addr = unsafe { &mut *ctx.sock_addr };
    // SAFETY: as above.
    let (user_ip6, user_port) = unsafe {
        (
            [
                read_volatile(&raw const addr.user_ip6[0]),
                read_volatile(&raw const addr.user_ip6[1]),
                read_volatile(&raw const addr.user_ip6[2]),
                read_volatile(&raw const addr.user_ip6[3]),
            ],
            read_volatile(&raw const addr.user_port),
        )
    };
    if !is_listener6(
        &ip6_bytes(user_ip6),
        port_from_user(user_port),
        LISTEN_PORT.load(),
    ) {
        return ALLOW;
    }
    if let Some((server, port)) = dns_server(&ctx) {
        addr.user_ip6 = ip6_words(server);
        addr.user_port = port_to_user(port);
    }
    ALLOW
}

/// The name server this DNS socket last addressed.
#[inline(always)]
fn dns_server(ctx: &SockAddrContext) -> Option<(gateway_common::Ip6Bytes, u16)> {
    // SAFETY: a context field read; the kernel provides the socket.
    let sk = unsafe { read_volatile(&raw const (*ctx.sock_addr).__bindgen_anon_1.sk) };
    if sk.is_null() {
        return None;
    }
    // SAFETY: `sk` is the context's socket, non-null.
    let state = unsafe { socket_state(sk) };
    if state.is_null() {
        return None;
    }
    // SAFETY: non-null pointer to this socket's state; fields are copied.
    let (phase, server, port) = unsafe { ((*state).phase, (*state).dst.addr, (*state).dst.port) };
    (phase == SOCKET_DNS).then_some((server, port))
}
