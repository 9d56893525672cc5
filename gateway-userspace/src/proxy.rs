//! The transparent proxy: accept a redirected connection, recover where it
//! was going, ask the agent's policy, then relay or refuse.

use std::{sync::Arc, time::Duration};

use gateway_common::{ConnKey, OriginalDst};
use tokio::{
    io::copy_bidirectional,
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

use crate::{
    addr::{ClientAddr, OriginalDstAddr, conn_key},
    agent::{AgentId, Agents},
    bpf::SharedMaps,
    detect::{Protocol, detect},
    intercept::{Intercepted, Interceptor},
    own_ports::OwnPorts,
    policy::Action,
    workers::Workers,
};

const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the proxy learns a connection's original destination: the BPF
/// map in production, a stand-in in the in-process tests.
pub trait OriginalDstSource: Send + Sync {
    /// Takes the entry out: each serves one accepted connection.
    fn take(&self, key: &ConnKey) -> Option<OriginalDst>;
}

impl OriginalDstSource for SharedMaps {
    fn take(&self, key: &ConnKey) -> Option<OriginalDst> {
        self.take_original_dst(key)
    }
}

/// What every connection handler needs.
pub struct Proxy {
    pub agents: Arc<Agents>,
    pub original_dst: Arc<dyn OriginalDstSource>,
    /// HTTP and TLS interception; `None` relays everything as raw TCP.
    pub interceptor: Option<Arc<Interceptor>>,
    /// How long to wait for an agent's first bytes before taking the
    /// connection for a protocol where the server speaks first.
    pub detect_wait: Duration,
    /// Where accepted connections are served.
    pub workers: Arc<Workers>,
    /// The gateway's own loopback ports: refused whatever the policy says.
    pub own_ports: OwnPorts,
}

/// A good default for `Proxy::detect_wait`: clients of client-first
/// protocols send within a round trip on loopback; server-first
/// protocols pay this once per connection.
pub const DEFAULT_DETECT_WAIT: Duration = Duration::from_millis(200);

impl Proxy {
    /// Accepts on `listener` (in the namespace with `netns_cookie`) until
    /// the task is aborted.
    pub fn serve(self: &Arc<Self>, listener: TcpListener, netns_cookie: u64) -> JoinHandle<()> {
        let proxy = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        proxy.hand_to_worker(stream, ClientAddr(peer), netns_cookie);
                    }
                    Err(error) => {
                        // Out of descriptors and the like: back off, go on.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        })
    }

    /// Moves an accepted connection to a worker's runtime, where it stays.
    fn hand_to_worker(self: &Arc<Self>, stream: TcpStream, client: ClientAddr, netns_cookie: u64) {
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%client, %error, "accepted connection lost");
                return;
            }
        };
        let proxy = Arc::clone(self);
        self.workers.spawn(async move {
            match TcpStream::from_std(stream) {
                Ok(stream) => proxy.handle(stream, client, netns_cookie).await,
                Err(error) => tracing::warn!(%client, %error, "accepted connection lost"),
            }
        });
    }

    async fn handle(&self, client_stream: TcpStream, client: ClientAddr, netns_cookie: u64) {
        let Some(recorded) = self.original_dst.take(&conn_key(netns_cookie, client)) else {
            tracing::warn!(%client, netns_cookie, "connection refused: no original destination");
            refuse(&client_stream);
            return;
        };
        let dst = OriginalDstAddr::from_kernel(&recorded);
        let Some(agent) = self.agents.get(AgentId(recorded.agent)) else {
            tracing::error!(%client, %dst, agent = recorded.agent, "connection refused: unknown agent");
            refuse(&client_stream);
            return;
        };
        if self.own_ports.is_own(dst.0) {
            tracing::warn!(
                agent = %agent.name, %client, %dst, cgroup_id = recorded.cgroup_id,
                "connection refused: the gateway's own port"
            );
            refuse(&client_stream);
            return;
        }
        if let Some(interceptor) = &self.interceptor {
            let protocol = detect(&client_stream, self.detect_wait).await;
            // Small writes (HTTP/2 window updates, headers) must not wait
            // for Nagle's algorithm.
            let _ = client_stream.set_nodelay(true);
            let intercepted = Intercepted {
                agents: Arc::clone(&self.agents),
                agent: AgentId(recorded.agent),
                client,
                dst,
            };
            match protocol {
                Protocol::Tls if interceptor.can_terminate_tls() => {
                    tracing::debug!(agent = %agent.name, %client, %dst, "intercepting TLS");
                    interceptor.serve_tls(client_stream, intercepted).await;
                    return;
                }
                Protocol::Http => {
                    tracing::debug!(agent = %agent.name, %client, %dst, "intercepting HTTP");
                    interceptor
                        .serve_plain_http(client_stream, intercepted)
                        .await;
                    return;
                }
                Protocol::Tls | Protocol::Raw => {}
            }
        }
        let decision = agent.policy().decide(dst.0);
        match decision.action {
            // A raw connection carries no request a person could approve.
            Action::Deny | Action::Approve => {
                tracing::info!(
                    agent = %agent.name, %client, %dst, rule = %decision.rule,
                    cgroup_id = recorded.cgroup_id, "connection denied"
                );
                refuse(&client_stream);
            }
            Action::Allow => {
                tracing::info!(
                    agent = %agent.name, %client, %dst, rule = %decision.rule,
                    cgroup_id = recorded.cgroup_id, "connection allowed"
                );
                relay(client_stream, dst, &agent.name).await;
            }
        }
    }
}

async fn relay(mut client: TcpStream, dst: OriginalDstAddr, agent: &str) {
    let upstream = tokio::time::timeout(UPSTREAM_CONNECT_TIMEOUT, TcpStream::connect(dst.0)).await;
    let mut upstream = match upstream {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::warn!(agent = %agent, %dst, %error, "upstream connect failed");
            refuse(&client);
            return;
        }
        Err(_) => {
            tracing::warn!(agent = %agent, %dst, error = "timed out", "upstream connect failed");
            refuse(&client);
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    match copy_bidirectional(&mut client, &mut upstream).await {
        Ok((sent, received)) => {
            tracing::debug!(agent = %agent, %dst, sent, received, "connection closed");
        }
        Err(error) => {
            tracing::debug!(agent = %agent, %dst, %error, "connection ended with an error");
        }
    }
}

/// Resets the connection: the agent sees "connection reset" at once
/// instead of an orderly end it could take for an empty answer.
fn refuse(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}

#[cfg(test)]
mod tests;
