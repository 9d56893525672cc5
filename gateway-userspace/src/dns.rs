//! The gateway's DNS responder for agents. Their UDP to port 53 is sent
//! here by the kernel programs (and nothing else of theirs may use UDP).
//! A name is answered only if some agent's policy has a rule that could
//! allow it; every other name gets NXDOMAIN without being looked up, so
//! a query cannot carry data out to a name an attacker controls.
//! Addresses come from the gateway's own resolver. A name with a
//! credential placeholder in it is refused and recorded as an
//! exfiltration attempt, whatever the policies say.

use std::{net::IpAddr, sync::Arc, time::Duration};

use hickory_resolver::proto::{
    op::{Message, MessageType, OpCode, ResponseCode},
    rr::{
        RData, Record, RecordType,
        rdata::{A, AAAA},
    },
};
use tokio::{net::UdpSocket, task::JoinHandle};

use crate::{agent::Agents, credentials::Credentials, resolve::Resolver, vault::Placeholder};

/// TTL of the answers: short, so that a policy change or an upstream's
/// new address shows soon.
const ANSWER_TTL: u32 = 30;
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

pub struct DnsResponder {
    pub agents: Arc<Agents>,
    pub resolver: Resolver,
    /// Where placeholders sent as names are recorded.
    pub credentials: Arc<Credentials>,
}

impl DnsResponder {
    /// Answers queries on `socket` until the task is aborted.
    pub fn serve(self: &Arc<Self>, socket: UdpSocket) -> JoinHandle<()> {
        let responder = Arc::clone(self);
        let socket = Arc::new(socket);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let (len, peer) = match socket.recv_from(&mut buf).await {
                    Ok(received) => received,
                    Err(error) => {
                        tracing::debug!(%error, "DNS receive failed");
                        continue;
                    }
                };
                let query = buf[..len].to_vec();
                let responder = Arc::clone(&responder);
                let socket = Arc::clone(&socket);
                tokio::spawn(async move {
                    if let Some(answer) = responder.answer(&query).await {
                        let _ = socket.send_to(&answer, peer).await;
                    }
                });
            }
        })
    }

    /// The response to one query, or `None` for what is not a query.
    pub async fn answer(&self, query: &[u8]) -> Option<Vec<u8>> {
        let request = Message::from_vec(query).ok()?;
        if request.metadata.message_type != MessageType::Query {
            return None;
        }
        let mut response = Message::response(request.metadata.id, request.metadata.op_code);
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.metadata.recursion_available = true;
        response.add_queries(request.queries.clone());
        let (Some(question), OpCode::Query) = (request.queries.first(), request.metadata.op_code)
        else {
            response.metadata.response_code = ResponseCode::NotImp;
            return response.to_vec().ok();
        };
        let name = question.name().to_string();
        let host = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some((_, placeholder)) = Placeholder::find_all(host.as_bytes()).into_iter().next() {
            // A placeholder as a label: data leaving through a name.
            self.credentials.record_dns_name(
                &host,
                placeholder,
                format!("dns-{}", request.metadata.id),
            );
            response.metadata.response_code = ResponseCode::Refused;
            return response.to_vec().ok();
        }
        if !self
            .agents
            .iter()
            .any(|agent| agent.policy().may_reach_name(&host))
        {
            tracing::info!(name = %host, "DNS query refused: no policy reaches this name");
            response.metadata.response_code = ResponseCode::NXDomain;
            return response.to_vec().ok();
        }
        let wanted = question.query_type();
        if matches!(wanted, RecordType::A | RecordType::AAAA) {
            let ips = tokio::time::timeout(LOOKUP_TIMEOUT, self.resolver.resolve(&host)).await;
            match ips {
                Ok(Ok(ips)) => {
                    let owner = question.name().clone();
                    for ip in ips {
                        let rdata = match (ip, wanted) {
                            (IpAddr::V4(v4), RecordType::A) => RData::A(A(v4)),
                            (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(AAAA(v6)),
                            _ => continue,
                        };
                        response.add_answer(Record::from_rdata(owner.clone(), ANSWER_TTL, rdata));
                    }
                    tracing::debug!(name = %host, answers = response.answers.len(), "DNS query answered");
                }
                Ok(Err(error)) => {
                    tracing::info!(name = %host, %error, "DNS lookup for an agent failed");
                    response.metadata.response_code = ResponseCode::ServFail;
                }
                Err(_) => {
                    tracing::info!(name = %host, "DNS lookup for an agent timed out");
                    response.metadata.response_code = ResponseCode::ServFail;
                }
            }
        }
        // Other record types of a reachable name: no data (NOERROR, empty).
        response.to_vec().ok()
    }
}
