//! `sock_create`: agents may create only sockets whose traffic the other
//! programs see: TCP and UDP over IPv4/IPv6 (TCP is redirected, UDP is
//! refused at connect and send), plus local unix and netlink sockets.
//! Raw, packet, SCTP, MPTCP, ICMP and other sockets are refused, since
//! they would go around the connect hooks.

use aya_ebpf::{macros::cgroup_sock, programs::SockContext};

const ALLOW: i32 = 1;
const DENY: i32 = 0;

const AF_UNIX: u32 = 1;
const AF_INET: u32 = 2;
const AF_INET6: u32 = 10;
const AF_NETLINK: u32 = 16;

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
    match family {
        AF_UNIX | AF_NETLINK => ALLOW,
        AF_INET | AF_INET6 => match (sock_type, protocol) {
            (SOCK_STREAM, 0 | IPPROTO_TCP) | (SOCK_DGRAM, 0 | IPPROTO_UDP) => ALLOW,
            _ => DENY,
        },
        _ => DENY,
    }
}
