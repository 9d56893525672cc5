//! In-process tests of the proxy logic, with a stand-in for the BPF map.
//! The kernel side is covered by the integration tests in `tests/`.

use std::{collections::HashMap, net::SocketAddr, path::Path, sync::Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;
use crate::{
    agent::Agent,
    policy::{Policy, store::PolicyStore},
};

#[derive(Default)]
struct StandInMap(Mutex<HashMap<ConnKey, OriginalDst>>);

impl OriginalDstSource for StandInMap {
    fn take(&self, key: &ConnKey) -> Option<OriginalDst> {
        self.0.lock().unwrap().remove(key)
    }
}

const NETNS: u64 = 42;

fn recorded(dst: SocketAddr) -> OriginalDst {
    let std::net::IpAddr::V4(ip) = dst.ip() else {
        panic!("IPv4 only here")
    };
    OriginalDst {
        addr: gateway_common::v4_mapped(ip.octets()),
        port: dst.port(),
        pad: 0,
        agent: 0,
        cgroup_id: 1,
    }
}

async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// A proxy whose only agent allows `allowed`, listening on loopback.
async fn proxy(allowed: SocketAddr, map: Arc<StandInMap>) -> SocketAddr {
    proxy_with_own_ports(allowed, map, OwnPorts::default()).await
}

async fn proxy_with_own_ports(
    allowed: SocketAddr,
    map: Arc<StandInMap>,
    own_ports: OwnPorts,
) -> SocketAddr {
    let policy = Policy::parse(
        &format!(
            "[[rules]]\nname = \"echo\"\naction = \"allow\"\nhosts = [\"{}\"]\nports = [{}]\n",
            allowed.ip(),
            allowed.port()
        ),
        Path::new("test.toml"),
    )
    .unwrap();
    let mut agents = Agents::default();
    agents.add(Agent {
        name: "test".into(),
        policy: PolicyStore::new("test.toml".into(), policy),
    });
    // Without interception every connection is raw TCP, which is what
    // these tests look at; interception has its own integration tests.
    let proxy = Arc::new(Proxy {
        agents: Arc::new(agents),
        original_dst: map,
        interceptor: None,
        detect_wait: DEFAULT_DETECT_WAIT,
        workers: Arc::new(Workers::start(2).unwrap()),
        own_ports,
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    proxy.serve(listener, NETNS);
    addr
}

/// Connects from a known local port and records `dst` for it first, as
/// `sock_ops` would.
async fn connect_as_agent(proxy: SocketAddr, map: &StandInMap, dst: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let local = socket.local_addr().unwrap();
    map.0
        .lock()
        .unwrap()
        .insert(conn_key(NETNS, ClientAddr(local)), recorded(dst));
    socket.connect(proxy).await.unwrap()
}

#[tokio::test]
async fn allowed_destination_is_relayed() {
    let upstream = echo_server().await;
    let map = Arc::new(StandInMap::default());
    let proxy = proxy(upstream, Arc::clone(&map)).await;
    let mut client = connect_as_agent(proxy, &map, upstream).await;
    client.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    client.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
    assert!(map.0.lock().unwrap().is_empty(), "the entry is taken");
}

#[tokio::test]
async fn denied_destination_is_reset() {
    let upstream = echo_server().await;
    let map = Arc::new(StandInMap::default());
    let proxy = proxy(upstream, Arc::clone(&map)).await;
    let other = SocketAddr::new(upstream.ip(), upstream.port().wrapping_add(1));
    let mut client = connect_as_agent(proxy, &map, other).await;
    let mut buf = [0u8; 1];
    let err = client.read(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
}

#[tokio::test]
async fn connection_without_original_destination_is_reset() {
    let upstream = echo_server().await;
    let map = Arc::new(StandInMap::default());
    let proxy = proxy(upstream, Arc::clone(&map)).await;
    let mut client = TcpStream::connect(proxy).await.unwrap();
    let mut buf = [0u8; 1];
    let err = client.read(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
}

#[tokio::test]
async fn own_port_is_reset_even_when_the_policy_allows_it() {
    // The policy allows exactly this loopback port, as if it were an
    // ordinary local server; it is the gateway's web page, so it is refused.
    let page = echo_server().await;
    let map = Arc::new(StandInMap::default());
    let proxy = proxy_with_own_ports(page, Arc::clone(&map), OwnPorts::new([page.port()])).await;
    let mut client = connect_as_agent(proxy, &map, page).await;
    let mut buf = [0u8; 1];
    let err = client.read(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
}
