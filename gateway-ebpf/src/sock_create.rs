//! `sock_create`: of the IPv4 and IPv6 sockets, agents may create only
//! those whose traffic the other programs see: TCP (redirected) and UDP
//! (refused at connect and send). Raw, ICMP, SCTP, MPTCP and other IP
//! sockets would go around the connect hooks and are refused.
//!
//! The kernel runs this hook for IPv4 and IPv6 sockets only. Packet
//! sockets (`AF_PACKET`, which need `CAP_NET_RAW`) are out of its reach:
//! agents must not hold that capability (see README, "What is enforced").

use aya_ebpf::{
    EbpfContext as _, helpers::generated::bpf_get_netns_cookie, macros::cgroup_sock,
    programs::SockContext,
};
use aya_log_ebpf::{info, warn};

use crate::{agent::initial_socket_state, maps::socket_state_or_create};

const ALLOW: i32 = 1;
const DENY: i32 = 0;

const AF_INET: u32 = 2;
const AF_INET6: u32 = 10;

const SOCK_STREAM: u32 = 1;
const SOCK_DGRAM: u32 = 2;

const IPPROTO_TCP: u32 = 6;
const IPPROTO_UDP: u32 = 17;

#[cgroup_sock(sock_create)]
pub fn gw_sock_create(ctx: SockContext) -> i32 {
    // SAFETY: `sock` is the context pointer the kernel passed in; the
    // verifier checks each field read against `struct bpf_sock`.
    let (family, sock_type, protocol) =
        unsafe { ((*ctx.sock).family, (*ctx.sock).type_, (*ctx.sock).protocol) };
    let allowed = match family {
        AF_INET | AF_INET6 => matches!(
            (sock_type, protocol),
            (SOCK_STREAM, 0 | IPPROTO_TCP) | (SOCK_DGRAM, 0 | IPPROTO_UDP)
        ),
        _ => false,
    };
    if !allowed {
        info!(
            &ctx,
            "socket refused: family {} type {} protocol {}", family, sock_type, protocol
        );
        return DENY;
    }
    if sock_type == SOCK_STREAM && !track(&ctx) {
        return DENY;
    }
    ALLOW
}

/// Gives a new TCP socket its state, so that `connect` only has to fill
/// in the destination: the allocation happens once, here, rather than on
/// the connect path. `false` (refuse the socket) when the task has no
/// agent binding or the kernel is out of memory.
#[inline(always)]
fn track(ctx: &SockContext) -> bool {
    // SAFETY: the helper takes the context pointer the kernel passed in.
    let netns_cookie = unsafe { bpf_get_netns_cookie(ctx.as_ptr()) };
    let Some(mut initial) = initial_socket_state(netns_cookie) else {
        warn!(ctx, "socket refused: this cgroup has no agent binding");
        return false;
    };
    // SAFETY: the context of `cgroup/sock_create` is the new socket itself.
    !unsafe { socket_state_or_create(ctx.sock, &mut initial) }.is_null()
}
