//! `sock_ops`: when an agent's connection to the gateway is established,
//! move its original destination from the socket's state to the key the
//! gateway can compute from the accepted socket (namespace, peer address,
//! peer port).
//!
//! This runs while the agent's kernel processes the SYN-ACK, before it
//! sends the final ACK, so the entry exists before the gateway can accept
//! the connection: there is no window in which the gateway looks too early.

use core::ptr::read_volatile;

use aya_ebpf::{bindings::bpf_sock, macros::sock_ops, programs::SockOpsContext};
use gateway_common::{ConnKey, SOCKET_CONNECTING, SocketState, v4_mapped};

use crate::{
    addr::ip6_bytes,
    maps::{NETNS_READY, ORIGINAL_DST, forget_socket, socket_state},
};

const BPF_SOCK_OPS_TIMEOUT_INIT: u32 = 1;
const BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB: u32 = 4;
/// Initial SYN retransmission timeout, in jiffies, for a connect from a
/// namespace the gateway has no listener in yet (see `egress`): 25 ms at
/// HZ=1000, 100 ms at HZ=250, instead of the default second.
const SYN_RTO_WHILE_NETNS_PENDING: u32 = 25;
const AF_INET: u32 = 2;
const AF_INET6: u32 = 10;

#[sock_ops]
pub fn gw_sock_ops(ctx: SockOpsContext) -> u32 {
    match ctx.op() {
        BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB => rekey(&ctx),
        BPF_SOCK_OPS_TIMEOUT_INIT if netns_pending(&ctx) => {
            ctx.set_reply(SYN_RTO_WHILE_NETNS_PENDING);
        }
        _ => {}
    }
    1
}

/// The socket of the context, if the kernel provides one.
#[inline(always)]
fn socket(ctx: &SockOpsContext) -> *mut bpf_sock {
    // SAFETY: `ops` is the context pointer; reading its `sk` field is a
    // context access the verifier checks.
    unsafe { read_volatile(&raw const (*ctx.ops).__bindgen_anon_2.sk) }
}

/// This socket's state if it is connecting through the gateway, else null.
#[inline(always)]
fn connecting(sk: *mut bpf_sock) -> *mut SocketState {
    // SAFETY: `sk` is non-null (callers check) and comes from the context.
    let state = unsafe { socket_state(sk) };
    // SAFETY: non-null pointer to this socket's state; a copy is read.
    if state.is_null() || unsafe { (*state).phase } != SOCKET_CONNECTING {
        return core::ptr::null_mut();
    }
    state
}

/// Whether this socket's connect came from a namespace that has no
/// gateway listener yet, so its SYN will be held back once.
#[inline(always)]
fn netns_pending(ctx: &SockOpsContext) -> bool {
    let sk = socket(ctx);
    if sk.is_null() {
        return false;
    }
    let state = connecting(sk);
    // SAFETY: non-null pointer to this socket's state; the read is a
    // copy. The map lookup only tests for presence.
    !state.is_null() && unsafe { NETNS_READY.get((*state).netns_cookie) }.is_none()
}

#[inline(always)]
fn rekey(ctx: &SockOpsContext) {
    let sk = socket(ctx);
    if sk.is_null() {
        return;
    }
    let state = connecting(sk);
    if state.is_null() {
        return; // Not redirected by us (a direct connect to the listener).
    }
    // SAFETY: non-null pointer to this socket's state, copied out before
    // the state is dropped: the socket is done with the gateway's help.
    let state = unsafe { state.read() };
    // SAFETY: `sk` is this context's non-null socket.
    unsafe { forget_socket(sk) };

    // The verifier only accepts context reads at a constant offset from
    // the context pointer itself; volatile reads stop the compiler from
    // merging the branches below into a computed pointer.
    // SAFETY: `ops` is the context pointer; each read is of one field.
    let (family, ip4, ip6, port) = unsafe {
        let ops = ctx.ops;
        (
            read_volatile(&raw const (*ops).family),
            read_volatile(&raw const (*ops).local_ip4),
            [
                read_volatile(&raw const (*ops).local_ip6[0]),
                read_volatile(&raw const (*ops).local_ip6[1]),
                read_volatile(&raw const (*ops).local_ip6[2]),
                read_volatile(&raw const (*ops).local_ip6[3]),
            ],
            read_volatile(&raw const (*ops).local_port),
        )
    };
    let addr = match family {
        AF_INET => v4_mapped(ip4.to_ne_bytes()),
        AF_INET6 => ip6_bytes(ip6),
        _ => return,
    };
    let key = ConnKey {
        netns_cookie: state.netns_cookie,
        addr,
        // `local_port` is a 16-bit port in host order, widened to 32 bits.
        port: u16::try_from(port).unwrap_or(0),
        pad: [0; 6],
    };
    // If this fails the gateway finds no entry and refuses the connection.
    let _ = ORIGINAL_DST.insert(key, state.dst, 0);
}
