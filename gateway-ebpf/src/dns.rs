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
use gateway_common::{DNS_PORT, Ip6Bytes, SOCKET_DNS, v4_mapped};

use crate::{
    addr::{LOOPBACK4, ip6_words, is_listener6, is_v4_mapped, port_to_user, user4, user6},
    connect::{ALLOW, DENY, record_destination, redirect4, redirect6},
    maps::{LISTEN_PORT, socket_state},
};

#[cgroup_sock_addr(sendmsg4)]
pub fn gw_sendmsg4(ctx: SockAddrContext) -> i32 {
    // SAFETY: `sock_addr` is the context pointer the kernel passed in.
    let (server, port) = unsafe { user4(ctx.sock_addr) };
    send_to_gateway(&ctx, v4_mapped(server), port, Family::V4)
}

#[cgroup_sock_addr(sendmsg6)]
pub fn gw_sendmsg6(ctx: SockAddrContext) -> i32 {
    // SAFETY: `sock_addr` is the context pointer the kernel passed in.
    let (server, port) = unsafe { user6(ctx.sock_addr) };
    send_to_gateway(&ctx, server, port, Family::V6)
}

/// Which program runs: only that family's context fields may be written.
enum Family {
    V4,
    V6,
}

/// Sends a datagram for `server:port` to the gateway if it is DNS;
/// refuses it otherwise.
#[inline(always)]
fn send_to_gateway(ctx: &SockAddrContext, server: Ip6Bytes, port: u16, family: Family) -> i32 {
    if port != DNS_PORT {
        debug!(ctx, "UDP send refused: port {} is not DNS", port);
        return DENY;
    }
    if record_destination(ctx, server, port, SOCKET_DNS).is_none() {
        return DENY;
    }
    let listen_port = LISTEN_PORT.load();
    match family {
        Family::V4 => redirect4(ctx, listen_port),
        Family::V6 => redirect6(ctx, &server, listen_port),
    }
    ALLOW
}

#[cgroup_sock_addr(recvmsg4)]
pub fn gw_recvmsg4(ctx: SockAddrContext) -> i32 {
    // SAFETY: `sock_addr` is the context pointer the kernel passed in.
    let (source, port) = unsafe { user4(ctx.sock_addr) };
    if source == LOOPBACK4
        && port == LISTEN_PORT.load()
        && let Some((server, server_port)) = dns_server(&ctx)
        && is_v4_mapped(&server)
    {
        // SAFETY: `sock_addr` is the context pointer; recvmsg programs may
        // write the source address the application sees.
        let addr = unsafe { &mut *ctx.sock_addr };
        addr.user_ip4 = u32::from_ne_bytes([server[12], server[13], server[14], server[15]]);
        addr.user_port = port_to_user(server_port);
    }
    // recvmsg programs cannot refuse; they only rewrite.
    ALLOW
}

#[cgroup_sock_addr(recvmsg6)]
pub fn gw_recvmsg6(ctx: SockAddrContext) -> i32 {
    // SAFETY: `sock_addr` is the context pointer the kernel passed in.
    let (source, port) = unsafe { user6(ctx.sock_addr) };
    if is_listener6(&source, port, LISTEN_PORT.load())
        && let Some((server, server_port)) = dns_server(&ctx)
    {
        // SAFETY: as in `gw_recvmsg4`.
        let addr = unsafe { &mut *ctx.sock_addr };
        addr.user_ip6 = ip6_words(server);
        addr.user_port = port_to_user(server_port);
    }
    ALLOW
}

/// The name server this DNS socket last addressed.
#[inline(always)]
fn dns_server(ctx: &SockAddrContext) -> Option<(Ip6Bytes, u16)> {
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
