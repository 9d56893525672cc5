//! Loading the kernel programs, binding agent cgroups, attaching and
//! pinning, and the maps the proxy reads.

mod link;
pub mod pins;

use std::{
    os::fd::AsFd as _,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use aya::{
    Ebpf, EbpfLoader,
    maps::{HashMap, MapData, RingBuf},
    programs::{CgroupSkb, CgroupSock, CgroupSockAddr, Program, SockOps},
};
use gateway_common::{AgentBinding, ConnKey, NetnsListener, OriginalDst, names};

use self::{
    link::AttachType,
    pins::{PinDir, PinError},
};
use crate::{agent::AgentId, cgroup::Cgroup};

/// The compiled kernel programs, built by build.rs through aya-build.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/gateway"));

/// Every program, where it attaches, in the order it is attached. The
/// connection-tracking programs come before the redirect so that no
/// connect is redirected without its handshake being tracked.
const PROGRAMS: [(&str, AttachType); 9] = [
    (names::SOCK_CREATE, AttachType::SockCreate),
    (names::SOCK_OPS, AttachType::SockOps),
    (names::EGRESS, AttachType::InetEgress),
    (names::RECVMSG4, AttachType::Udp4Recvmsg),
    (names::RECVMSG6, AttachType::Udp6Recvmsg),
    (names::SENDMSG4, AttachType::Udp4Sendmsg),
    (names::SENDMSG6, AttachType::Udp6Sendmsg),
    (names::CONNECT4, AttachType::Inet4Connect),
    (names::CONNECT6, AttachType::Inet6Connect),
];

#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    #[error("loading the eBPF object: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("eBPF program {name}: {source}")]
    Program {
        name: &'static str,
        source: aya::programs::ProgramError,
    },
    #[error("eBPF program {0} is missing from the object")]
    MissingProgram(&'static str),
    #[error("eBPF map {name}: {source}")]
    Map {
        name: &'static str,
        source: aya::maps::MapError,
    },
    #[error("eBPF map {0} is missing from the object")]
    MissingMap(&'static str),
    #[error("attaching {program} to cgroup {cgroup}: {source}")]
    Attach {
        program: &'static str,
        cgroup: PathBuf,
        source: std::io::Error,
    },
    #[error("pinning {program} at {path}: {source}")]
    Pin {
        program: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Pins(#[from] PinError),
    #[error("setting up the kernel programs' log: {0}")]
    Logger(aya_log::Error),
    #[error("cgroup: {0}")]
    Cgroup(#[from] crate::cgroup::CgroupError),
}

/// The least severe kernel log line that is emitted, as aya-log numbers
/// levels. Set with `GATEWAY_KERNEL_LOG`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum KernelLogLevel {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
}

impl KernelLogLevel {
    /// From `GATEWAY_KERNEL_LOG` (`error`, `warn`, `info`, `debug`); `info`
    /// when unset: refused sockets and misconfigurations, but not every
    /// refused UDP packet.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var("GATEWAY_KERNEL_LOG").as_deref() {
            Err(_) | Ok("info") => Ok(Self::Info),
            Ok("error") => Ok(Self::Error),
            Ok("warn") => Ok(Self::Warn),
            Ok("debug") => Ok(Self::Debug),
            Ok(other) => Err(format!(
                "GATEWAY_KERNEL_LOG={other:?}: expected error, warn, info or debug"
            )),
        }
    }
}

/// Loaded programs and the maps user space works with.
pub struct Enforcer {
    ebpf: Ebpf,
    agents: HashMap<MapData, u64, AgentBinding>,
    pub maps: Arc<SharedMaps>,
}

/// Maps used from the proxy's tasks.
pub struct SharedMaps {
    original_dst: Mutex<HashMap<MapData, ConnKey, OriginalDst>>,
    netns_ready: Mutex<HashMap<MapData, u64, NetnsListener>>,
}

impl Enforcer {
    /// Loads (but does not attach) the programs, set to redirect to
    /// `listen_port` and to log at `kernel_log` and above.
    pub fn load(listen_port: u16, kernel_log: KernelLogLevel) -> Result<Self, BpfError> {
        let level = kernel_log as u8;
        let mut ebpf = EbpfLoader::new()
            .override_global(names::LISTEN_PORT, &listen_port, true)
            .override_global(aya_log::LEVEL, &level, false)
            .load(OBJECT)?;
        for (name, _) in PROGRAMS {
            let program = ebpf
                .program_mut(name)
                .ok_or(BpfError::MissingProgram(name))?;
            let loaded = match program {
                Program::CgroupSockAddr(p) => CgroupSockAddr::load(p),
                Program::SockOps(p) => SockOps::load(p),
                Program::CgroupSkb(p) => CgroupSkb::load(p),
                Program::CgroupSock(p) => CgroupSock::load(p),
                _ => return Err(BpfError::MissingProgram(name)),
            };
            loaded.map_err(|source| BpfError::Program { name, source })?;
        }
        let agents = take_hash_map(&mut ebpf, names::AGENTS)?;
        let original_dst = take_hash_map(&mut ebpf, names::ORIGINAL_DST)?;
        let netns_ready = take_hash_map(&mut ebpf, names::NETNS_READY)?;
        Ok(Self {
            ebpf,
            agents,
            maps: Arc::new(SharedMaps {
                original_dst: Mutex::new(original_dst),
                netns_ready: Mutex::new(netns_ready),
            }),
        })
    }

    /// Declares `cgroup` (and so its whole subtree) to be `agent`.
    pub fn bind_agent(&mut self, cgroup: &Cgroup, agent: AgentId) -> Result<(), BpfError> {
        let binding = AgentBinding {
            agent: agent.0,
            reserved: 0,
        };
        self.agents
            .insert(cgroup.id, binding, 0)
            .map_err(|source| BpfError::Map {
                name: names::AGENTS,
                source,
            })
    }

    /// Attaches every program to `cgroup` and pins the links under
    /// `generation`. Returns the pins made.
    pub fn attach(
        &self,
        cgroup: &Cgroup,
        pins: &PinDir,
        generation: &str,
    ) -> Result<Vec<PathBuf>, BpfError> {
        let dir = cgroup.open_dir()?;
        let mut made = Vec::with_capacity(PROGRAMS.len());
        for (name, attach_type) in PROGRAMS {
            let program = self
                .ebpf
                .program(name)
                .ok_or(BpfError::MissingProgram(name))?;
            let prog_fd = program
                .fd()
                .map_err(|source| BpfError::Program { name, source })?;
            let link = link::create_cgroup_link(prog_fd.as_fd(), dir.as_fd(), attach_type)
                .map_err(|source| BpfError::Attach {
                    program: name,
                    cgroup: cgroup.dir.clone(),
                    source,
                })?;
            let path = pins.path_for(cgroup.id, name, generation);
            link::pin(&link, &path).map_err(|source| BpfError::Pin {
                program: name,
                path: path.clone(),
                source,
            })?;
            made.push(path);
        }
        Ok(made)
    }

    /// The kernel programs' log, to be drained into ours. Call once.
    pub fn take_logger(&mut self) -> Result<aya_log::EbpfLogger<&'static dyn log::Log>, BpfError> {
        aya_log::EbpfLogger::init(&mut self.ebpf).map_err(BpfError::Logger)
    }

    /// The ring buffer of namespaces that need a listener. Call once.
    pub fn take_netns_events(&mut self) -> Result<RingBuf<MapData>, BpfError> {
        let map = self
            .ebpf
            .take_map(names::NETNS_EVENTS)
            .ok_or(BpfError::MissingMap(names::NETNS_EVENTS))?;
        RingBuf::try_from(map).map_err(|source| BpfError::Map {
            name: names::NETNS_EVENTS,
            source,
        })
    }
}

impl SharedMaps {
    /// Takes the original destination recorded for a connection out of
    /// the map: each entry serves one accept.
    pub fn take_original_dst(&self, key: &ConnKey) -> Option<OriginalDst> {
        let mut map = self
            .original_dst
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let dst = map.get(key, 0).ok()?;
        let _ = map.remove(key);
        Some(dst)
    }

    pub fn mark_netns_ready(&self, netns_cookie: u64) -> Result<(), BpfError> {
        self.netns_ready
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(netns_cookie, NetnsListener { reserved: 0 }, 0)
            .map_err(|source| BpfError::Map {
                name: names::NETNS_READY,
                source,
            })
    }

    pub fn forget_netns(&self, netns_cookie: u64) {
        let _ = self
            .netns_ready
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&netns_cookie);
    }
}

fn take_hash_map<K: aya::Pod, V: aya::Pod>(
    ebpf: &mut Ebpf,
    name: &'static str,
) -> Result<HashMap<MapData, K, V>, BpfError> {
    let map = ebpf.take_map(name).ok_or(BpfError::MissingMap(name))?;
    HashMap::try_from(map).map_err(|source| BpfError::Map { name, source })
}
