//! Addresses as the `cgroup_sock_addr` context holds them, and the
//! socket kinds the programs care about.

use core::ptr::read_volatile;

use aya_ebpf::bindings::bpf_sock_addr;
use gateway_common::Ip6Bytes;

pub const SOCK_STREAM: u32 = 1;
pub const SOCK_DGRAM: u32 = 2;
const IPPROTO_TCP: u32 = 6;
const IPPROTO_UDP: u32 = 17;

pub const LOOPBACK4: [u8; 4] = [127, 0, 0, 1];
pub const LOOPBACK6: Ip6Bytes = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

#[inline(always)]
pub fn is_tcp(sock_type: u32, protocol: u32) -> bool {
    sock_type == SOCK_STREAM && (protocol == IPPROTO_TCP || protocol == 0)
}

#[inline(always)]
pub fn is_udp(sock_type: u32, protocol: u32) -> bool {
    sock_type == SOCK_DGRAM && (protocol == IPPROTO_UDP || protocol == 0)
}

/// `user_port` holds the port in network order in its low 16 bits.
#[inline(always)]
#[expect(
    clippy::cast_possible_truncation,
    reason = "the port is the low 16 bits by definition"
)]
pub fn port_from_user(user_port: u32) -> u16 {
    u16::from_be(user_port as u16)
}

#[inline(always)]
pub fn port_to_user(port: u16) -> u32 {
    u32::from(port.to_be())
}

/// An IPv6 address from the context's four network-order words.
#[inline(always)]
pub fn ip6_bytes(words: [u32; 4]) -> Ip6Bytes {
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
pub fn ip6_words(bytes: Ip6Bytes) -> [u32; 4] {
    [
        u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
        u32::from_ne_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        u32::from_ne_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
        u32::from_ne_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]),
    ]
}

#[inline(always)]
pub fn is_v4_mapped(addr: &Ip6Bytes) -> bool {
    addr[..10] == [0u8; 10] && addr[10] == 0xff && addr[11] == 0xff
}

/// Where a redirected IPv6 socket goes: a v4-mapped destination travels
/// over IPv4, so to `::ffff:127.0.0.1`; a real IPv6 one to `[::1]`.
#[inline(always)]
pub fn loopback_for(dst: &Ip6Bytes) -> Ip6Bytes {
    if is_v4_mapped(dst) {
        gateway_common::v4_mapped(LOOPBACK4)
    } else {
        LOOPBACK6
    }
}

/// Whether `addr:port` is the gateway's own listener (either family).
#[inline(always)]
pub fn is_listener6(addr: &Ip6Bytes, port: u16, listen_port: u16) -> bool {
    port == listen_port && (*addr == LOOPBACK6 || *addr == gateway_common::v4_mapped(LOOPBACK4))
}

// Context fields are read with `read_volatile`: the verifier accepts
// context reads only at a constant offset from the context pointer, and
// volatile reads keep the compiler from turning them into loads through a
// computed pointer.

/// The IPv4 address and port of a `cgroup_sock_addr` context.
///
/// # Safety
/// `addr` must be the context pointer the kernel passed to the program.
#[inline(always)]
pub unsafe fn user4(addr: *const bpf_sock_addr) -> ([u8; 4], u16) {
    // SAFETY: upheld by the caller; each read is of one context field.
    unsafe {
        (
            read_volatile(&raw const (*addr).user_ip4).to_ne_bytes(),
            port_from_user(read_volatile(&raw const (*addr).user_port)),
        )
    }
}

/// The IPv6 address and port of a `cgroup_sock_addr` context.
///
/// # Safety
/// As for [`user4`].
#[inline(always)]
pub unsafe fn user6(addr: *const bpf_sock_addr) -> (Ip6Bytes, u16) {
    // SAFETY: upheld by the caller; each read is of one context field.
    unsafe {
        (
            ip6_bytes([
                read_volatile(&raw const (*addr).user_ip6[0]),
                read_volatile(&raw const (*addr).user_ip6[1]),
                read_volatile(&raw const (*addr).user_ip6[2]),
                read_volatile(&raw const (*addr).user_ip6[3]),
            ]),
            port_from_user(read_volatile(&raw const (*addr).user_port)),
        )
    }
}

/// The socket type and protocol of a `cgroup_sock_addr` context.
///
/// # Safety
/// As for [`user4`].
#[inline(always)]
pub unsafe fn socket_kind(addr: *const bpf_sock_addr) -> (u32, u32) {
    // SAFETY: upheld by the caller.
    unsafe {
        (
            read_volatile(&raw const (*addr).type_),
            read_volatile(&raw const (*addr).protocol),
        )
    }
}
