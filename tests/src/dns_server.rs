//! A tiny DNS server (UDP only) that answers A and AAAA queries from a fixed
//! map, inside a test namespace: the gateway's resolver is pointed at it, so
//! names resolve without the system resolver and without leaving the host.
//!
//! Unknown names get NXDOMAIN; a known name without records of the asked
//! type gets an empty NOERROR answer. Every query is recorded.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::netns::NetNs;

/// Query type A (IPv4).
pub const QTYPE_A: u16 = 1;
/// Query type AAAA (IPv6).
pub const QTYPE_AAAA: u16 = 28;

/// One query the server received: the name (lowercase, no trailing dot) and type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub name: String,
    pub qtype: u16,
}

pub struct DnsServer {
    addr: SocketAddr,
    queries: Arc<Mutex<Vec<Query>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DnsServer {
    /// Serves `records` (name → addresses) on `bind` (e.g. 10.233.N.2:53) inside `ns`.
    pub fn start_in(ns: &NetNs, bind: SocketAddr, records: &[(&str, IpAddr)]) -> Self {
        let mut map: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for (name, ip) in records {
            map.entry(name.trim_end_matches('.').to_ascii_lowercase())
                .or_default()
                .push(*ip);
        }
        let netns = ns.open();
        let queries = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = {
            let queries = Arc::clone(&queries);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                crate::netns::enter_for_this_thread(&netns);
                let socket =
                    UdpSocket::bind(bind).unwrap_or_else(|e| panic!("DNS server bind {bind}: {e}"));
                socket
                    .set_read_timeout(Some(Duration::from_millis(50)))
                    .expect("read timeout");
                let addr = socket.local_addr().expect("local addr");
                ready_tx.send(addr).expect("test waits for the address");
                serve(&socket, &map, &queries, &stop);
            })
        };
        let addr = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("DNS server did not start");
        Self {
            addr,
            queries,
            stop,
            thread: Some(thread),
        }
    }

    /// Where it listens (what the gateway's `nameservers` gets).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn queries(&self) -> Vec<Query> {
        self.queries.lock().expect("lock").clone()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    socket: &UdpSocket,
    map: &HashMap<String, Vec<IpAddr>>,
    queries: &Mutex<Vec<Query>>,
    stop: &AtomicBool,
) {
    let mut buf = [0u8; 1500];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let Some((query, question_end)) = parse_query(&buf[..n]) else {
            continue;
        };
        queries.lock().expect("lock").push(query.clone());
        let answer = answer(&buf[..question_end], &query, map.get(&query.name));
        let _ = socket.send_to(&answer, from);
    }
}

/// The first question's name and type, and where the question ends.
fn parse_query(packet: &[u8]) -> Option<(Query, usize)> {
    if packet.len() < 12 || packet[2] & 0x80 != 0 || u16::from_be_bytes([packet[4], packet[5]]) == 0
    {
        return None;
    }
    let mut labels = Vec::new();
    let mut at = 12;
    loop {
        let len = usize::from(*packet.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None; // compression is not used in questions we get
        }
        labels.push(String::from_utf8_lossy(packet.get(at..at + len)?).to_ascii_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*packet.get(at)?, *packet.get(at + 1)?]);
    let question_end = at + 4;
    packet.get(..question_end)?;
    Some((
        Query {
            name: labels.join("."),
            qtype,
        },
        question_end,
    ))
}

/// A response to `request` (header + one question) with the matching records.
fn answer(request: &[u8], query: &Query, ips: Option<&Vec<IpAddr>>) -> Vec<u8> {
    let records: Vec<IpAddr> = ips
        .into_iter()
        .flatten()
        .copied()
        .filter(|ip| match query.qtype {
            QTYPE_A => ip.is_ipv4(),
            QTYPE_AAAA => ip.is_ipv6(),
            _ => false,
        })
        .collect();
    let mut out = request.to_vec();
    let rd = request[2] & 0x01;
    out[2] = 0x80 | 0x04 | rd; // response, authoritative, RD copied
    out[3] = if ips.is_some() { 0x80 } else { 0x83 }; // RA; NXDOMAIN for unknown names
    out[4..6].copy_from_slice(&1u16.to_be_bytes());
    let count = u16::try_from(records.len()).expect("few records");
    out[6..8].copy_from_slice(&count.to_be_bytes());
    out[8..12].fill(0);
    for ip in records {
        out.extend_from_slice(&[0xc0, 0x0c]); // the name in the question
        out.extend_from_slice(&query.qtype.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes()); // IN
        out.extend_from_slice(&5u32.to_be_bytes()); // TTL
        match ip {
            IpAddr::V4(v4) => {
                out.extend_from_slice(&4u16.to_be_bytes());
                out.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                out.extend_from_slice(&16u16.to_be_bytes());
                out.extend_from_slice(&v6.octets());
            }
        }
    }
    out
}

/// Asks `server` for the `qtype` records of `name` (for the harness's own
/// check); returns the addresses, or `Err(rcode)`.
pub fn lookup(server: SocketAddr, name: &str, qtype: u16) -> Result<Vec<IpAddr>, u8> {
    let mut query = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        query.push(u8::try_from(label.len()).expect("short label"));
        query.extend_from_slice(label.as_bytes());
    }
    query.push(0);
    query.extend_from_slice(&qtype.to_be_bytes());
    query.extend_from_slice(&1u16.to_be_bytes());
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().expect("addr")
    } else {
        "[::]:0".parse().expect("addr")
    };
    let socket = UdpSocket::bind(bind).expect("client socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    socket.send_to(&query, server).expect("sending the query");
    let mut buf = [0u8; 1500];
    let (n, _) = socket.recv_from(&mut buf).expect("DNS answer");
    let packet = &buf[..n];
    assert_eq!(&packet[..2], &[0x12, 0x34], "answer to our query id");
    let rcode = packet[3] & 0x0f;
    if rcode != 0 {
        return Err(rcode);
    }
    let answers = u16::from_be_bytes([packet[6], packet[7]]);
    let mut at = query.len();
    let mut out = Vec::new();
    for _ in 0..answers {
        at += 2 + 2 + 2 + 4; // name pointer, type, class, ttl
        let len = usize::from(u16::from_be_bytes([packet[at], packet[at + 1]]));
        at += 2;
        let data = &packet[at..at + len];
        out.push(match len {
            4 => IpAddr::from(<[u8; 4]>::try_from(data).expect("4 bytes")),
            _ => IpAddr::from(<[u8; 16]>::try_from(data).expect("16 bytes")),
        });
        at += len;
    }
    Ok(out)
}
