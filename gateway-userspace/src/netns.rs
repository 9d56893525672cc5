//! Opening the gateway's loopback listeners, in its own network namespace
//! or inside an agent's.
//!
//! As ztunnel does in-pod: a short-lived thread enters the agent's
//! namespace with `setns`, creates the listening sockets there, and ends.
//! A socket stays in the namespace it was created in, so the gateway can
//! accept on it from anywhere, while its own upstream connections leave
//! from the host namespace.

use std::{
    fs::File,
    net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket},
    os::{fd::AsRawFd as _, unix::fs::MetadataExt as _},
    path::{Path, PathBuf},
};

use socket2::{Domain, Socket, Type};

const SO_NETNS_COOKIE: libc::c_int = 71;
const BACKLOG: i32 = 1024;

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("opening network namespace {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("entering network namespace {path}: {source}")]
    Enter {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("listen port {addr} is already in use")]
    PortInUse { addr: SocketAddr },
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("reading the namespace cookie of a listener: {0}")]
    Cookie(std::io::Error),
    #[error("the namespace thread panicked")]
    Thread,
}

/// The listeners of one network namespace.
#[derive(Debug)]
pub struct NetnsListeners {
    pub v4: TcpListener,
    /// `None` where the namespace has no IPv6 loopback.
    pub v6: Option<TcpListener>,
    /// DNS, on the same port: where agents' queries are sent.
    pub dns4: UdpSocket,
    pub dns6: Option<UdpSocket>,
    /// `SO_NETNS_COOKIE`: the id the kernel programs know the namespace by.
    pub cookie: u64,
    /// Inode of the namespace, as `/proc/PID/ns/net` shows it.
    pub inode: u64,
}

impl NetnsListeners {
    #[must_use]
    pub fn port(&self) -> u16 {
        self.v4.local_addr().map_or(0, |a| a.port())
    }
}

/// Listens on 127.0.0.1 and `[::1]` at `port` (0: a free port, the same for
/// both) in the caller's own namespace.
pub fn listen_here(port: u16) -> Result<NetnsListeners, NetnsError> {
    let inode = std::fs::metadata("/proc/self/ns/net")
        .map_err(|source| NetnsError::Open {
            path: "/proc/self/ns/net".into(),
            source,
        })?
        .ino();
    listen(port, inode)
}

/// Listens on loopback at `port` inside the namespace at `ns_path` (such
/// as `/proc/PID/ns/net`), bringing its loopback interface up if needed.
pub fn listen_in(ns_path: &Path, port: u16) -> Result<NetnsListeners, NetnsError> {
    let ns = File::open(ns_path).map_err(|source| NetnsError::Open {
        path: ns_path.to_owned(),
        source,
    })?;
    let inode = ns
        .metadata()
        .map_err(|source| NetnsError::Open {
            path: ns_path.to_owned(),
            source,
        })?
        .ino();
    let path = ns_path.to_owned();
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                // SAFETY: `ns` is an open namespace file; setns only
                // changes this thread's namespace, and this thread ends
                // right after creating the sockets.
                if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(NetnsError::Enter {
                        path,
                        source: std::io::Error::last_os_error(),
                    });
                }
                if let Err(error) = bring_loopback_up() {
                    tracing::warn!(%error, "could not bring loopback up in agent namespace");
                }
                listen(port, inode)
            })
            .join()
            .map_err(|_| NetnsError::Thread)?
    })
}

fn listen(port: u16, inode: u64) -> Result<NetnsListeners, NetnsError> {
    let v4 = bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    let port = v4.local_addr().map_or(port, |a| a.port());
    let v6_addr = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    let v6 = match bind(v6_addr) {
        Ok(l) => Some(l),
        Err(NetnsError::Listen { source, .. })
            if source.raw_os_error() == Some(libc::EADDRNOTAVAIL)
                || source.raw_os_error() == Some(libc::EAFNOSUPPORT) =>
        {
            tracing::debug!("no IPv6 loopback in this namespace; IPv6 connects will fail");
            None
        }
        Err(e) => return Err(e),
    };
    let dns4 = bind_udp(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    let dns6 = if v6.is_some() {
        Some(bind_udp(v6_addr)?)
    } else {
        None
    };
    let cookie = netns_cookie(&v4).map_err(NetnsError::Cookie)?;
    Ok(NetnsListeners {
        v4,
        v6,
        dns4,
        dns6,
        cookie,
        inode,
    })
}

fn bind(addr: SocketAddr) -> Result<TcpListener, NetnsError> {
    let socket = bound_socket(addr, Type::STREAM)?;
    socket
        .listen(BACKLOG)
        .map_err(|source| NetnsError::Listen { addr, source })?;
    Ok(socket.into())
}

fn bind_udp(addr: SocketAddr) -> Result<UdpSocket, NetnsError> {
    bound_socket(addr, Type::DGRAM).map(Into::into)
}

/// A non-blocking socket of `kind` bound to `addr` (IPv6 only for IPv6).
fn bound_socket(addr: SocketAddr, kind: Type) -> Result<Socket, NetnsError> {
    let listen_err = |source| NetnsError::Listen { addr, source };
    let socket = Socket::new(Domain::for_address(addr), kind, None).map_err(listen_err)?;
    if kind == Type::STREAM {
        // A restarted gateway must not wait for old connections' TIME_WAIT.
        socket.set_reuse_address(true).map_err(listen_err)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(listen_err)?;
    }
    socket.set_nonblocking(true).map_err(listen_err)?;
    socket.set_cloexec(true).map_err(listen_err)?;
    match socket.bind(&addr.into()) {
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(NetnsError::PortInUse { addr }),
        other => other.map(|()| socket).map_err(listen_err),
    }
}

fn netns_cookie(listener: &TcpListener) -> std::io::Result<u64> {
    let mut cookie = 0u64;
    let mut len = libc::socklen_t::try_from(std::mem::size_of::<u64>()).expect("8 fits");
    // SAFETY: `cookie` and `len` are valid for writes of the sizes given.
    let ret = unsafe {
        libc::getsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            std::ptr::from_mut(&mut cookie).cast(),
            &raw mut len,
        )
    };
    if ret == 0 {
        Ok(cookie)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A fresh namespace (`ip netns add`) has its loopback down, and nothing
/// on 127.0.0.1 works until it is up. Container runtimes bring it up;
/// do the same for namespaces that did not.
fn bring_loopback_up() -> std::io::Result<()> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    // SAFETY: `ifreq` is a plain C struct for which all-zero is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = src.cast_signed();
    }
    // SAFETY: `req` names an interface and is valid for the kernel to
    // fill in its flags.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &raw mut req) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    let up = libc::c_short::try_from(libc::IFF_UP).expect("IFF_UP fits a short");
    if flags & up != 0 {
        return Ok(());
    }
    req.ifr_ifru.ifru_flags = flags | up;
    // SAFETY: as above; SIOCSIFFLAGS reads the name and flags.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &raw mut req) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    tracing::info!("brought loopback up in agent namespace");
    Ok(())
}
