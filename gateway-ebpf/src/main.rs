//! Kernel programs of the gateway. They run for every socket of an agent
//! cgroup and enforce one rule: TCP and DNS go to the gateway, nothing
//! else leaves.
//!
//! - `connect4`/`connect6` rewrite each TCP connect (and each UDP connect
//!   to a DNS server) to the gateway's listener and remember the original
//!   destination in the socket's own storage.
//! - `sock_ops` moves that record to a map keyed by the connection's
//!   4-tuple once the handshake completes, which is what the gateway can
//!   see on the accepted socket.
//! - `egress` holds back the SYN of a connection made in a namespace that
//!   has no gateway listener yet, until user space has opened one there.
//! - `sendmsg4/6` and `recvmsg4/6` send agents' DNS queries to the
//!   gateway's responder and refuse every other UDP send.
//! - `sock_create` gives each TCP socket its state and refuses raw and
//!   other IP socket kinds that would go around the connect hooks.
#![no_std]
#![no_main]
#![expect(
    clippy::inline_always,
    reason = "each program must be one function: the verifier checks it whole and BPF-to-BPF calls cost"
)]
#![expect(
    clippy::needless_pass_by_value,
    reason = "aya's program macros fix the entry points' signature"
)]

mod addr;
mod agent;
mod connect;
mod dns;
mod egress;
mod maps;
mod sock_create;
mod sock_ops;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The verifier proves the programs cannot reach this; loop forever as
    // aya-template does, since eBPF has no way to abort.
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
