//! WebSocket (and other HTTP/1.1) upgrades: once policy has allowed the
//! upgrade request and the upstream agreed, the two upgraded connections
//! are spliced together. If the upgrade request carried a secret, only a
//! WebSocket is spliced, and what the upstream sends goes through
//! `credentials::redact_frames` (the agent's side is copied as is).

use http::{HeaderMap, Request, header};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt as _;

use crate::credentials::{Injected, redact_frames};

pub fn is_upgrade<B>(request: &Request<B>) -> bool {
    request.headers().contains_key(header::UPGRADE)
        && request
            .headers()
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
}

/// Whether the upstream switched to WebSocket (the only upgraded protocol
/// whose stream the gateway can check for a secret).
pub fn is_websocket(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
}

pub fn splice(client: OnUpgrade, upstream: OnUpgrade, request_id: String, injected: Injected) {
    tokio::spawn(async move {
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(both) => both,
            Err(error) => {
                tracing::debug!(%request_id, %error, "upgrade failed");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        let result = if injected.is_empty() {
            tokio::io::copy_bidirectional(&mut client, &mut upstream)
                .await
                .map(drop)
        } else {
            let (mut client_in, client_out) = tokio::io::split(client);
            let (upstream_in, mut upstream_out) = tokio::io::split(upstream);
            let outbound = async {
                tokio::io::copy(&mut client_in, &mut upstream_out).await?;
                upstream_out.shutdown().await
            };
            let inbound = redact_frames(upstream_in, client_out, &injected);
            tokio::try_join!(outbound, inbound).map(drop)
        };
        if let Err(error) = result {
            tracing::debug!(%request_id, %error, "upgraded connection ended with an error");
        }
    });
}
