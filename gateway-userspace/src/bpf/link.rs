//! Attaching a loaded program to a cgroup as a BPF link, and pinning that
//! link in bpffs, with the two `bpf(2)` commands involved.
//!
//! aya can pin some cgroup links but not `sock_ops` ones, and we want every
//! program handled the same way, so this does it directly.

use std::{
    ffi::CString,
    os::fd::{AsFd, AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd},
    path::Path,
};

const BPF_OBJ_PIN: libc::c_long = 6;
const BPF_LINK_CREATE: libc::c_long = 28;

/// Kernel attach types (`enum bpf_attach_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum AttachType {
    InetEgress = 1,
    SockCreate = 2,
    SockOps = 3,
    Inet4Connect = 10,
    Inet6Connect = 11,
    Udp4Sendmsg = 14,
    Udp6Sendmsg = 15,
    Udp4Recvmsg = 19,
    Udp6Recvmsg = 20,
}

/// `union bpf_attr` is larger than any member we use; the kernel requires
/// unused bytes to be zero, which a zeroed buffer of this size guarantees.
#[repr(C, align(8))]
struct BpfAttr([u8; 128]);

fn bpf(cmd: libc::c_long, attr: &mut BpfAttr) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a valid, writable buffer of the size we pass; the
    // kernel reads (and for some commands writes) only within it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            std::ptr::from_mut(attr),
            std::mem::size_of::<BpfAttr>(),
        )
    };
    if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Creates a cgroup link. Links run alongside others on the same cgroup
/// (multi-attach), so a restarting gateway can attach its new programs
/// before it removes the old ones.
pub fn create_cgroup_link(
    prog: BorrowedFd<'_>,
    cgroup: BorrowedFd<'_>,
    attach_type: AttachType,
) -> std::io::Result<OwnedFd> {
    let mut attr = BpfAttr([0; 128]);
    attr.0[0..4].copy_from_slice(&prog.as_raw_fd().cast_unsigned().to_ne_bytes());
    attr.0[4..8].copy_from_slice(&cgroup.as_raw_fd().cast_unsigned().to_ne_bytes());
    attr.0[8..12].copy_from_slice(&(attach_type as u32).to_ne_bytes());
    let fd = bpf(BPF_LINK_CREATE, &mut attr)?;
    let fd = i32::try_from(fd).map_err(|_| std::io::Error::other("link fd out of range"))?;
    // SAFETY: on success BPF_LINK_CREATE returns a new file descriptor
    // that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Pins a link (or any BPF object) at `path`, which must be on bpffs.
pub fn pin(fd: impl AsFd, path: &Path) -> std::io::Result<()> {
    let c_path = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| std::io::Error::other("pin path contains a NUL byte"))?;
    let mut attr = BpfAttr([0; 128]);
    attr.0[0..8].copy_from_slice(&(c_path.as_ptr() as u64).to_ne_bytes());
    attr.0[8..12].copy_from_slice(&fd.as_fd().as_raw_fd().cast_unsigned().to_ne_bytes());
    bpf(BPF_OBJ_PIN, &mut attr).map(drop)
}
