//! Watching the rest of a streamed request body for placeholders. Each
//! chunk is searched together with the tail of the one before, and that
//! tail (one byte shorter than a placeholder) is held back until the next
//! chunk, so a placeholder never reaches the upstream whole: when one
//! shows up the body fails, which aborts the upstream request. Trailers
//! after the body are searched too (no binding puts a secret there).

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::{
    Target,
    held_back::{HeldBack, StreamFilter},
    inject::in_stream,
    record_exfiltration,
    scan::{Place, scan_body, scan_trailers},
};
use crate::{
    audit::AuditLog,
    intercept::{BoxError, ProxyBody},
    vault::{Placeholder, placeholder::LEN, store::VaultStore},
};

#[derive(Debug, thiserror::Error)]
#[error(
    "the request body or its trailers carried a credential placeholder; the gateway stopped it"
)]
pub struct PlaceholderInBody;

pub struct PlaceholderGuard {
    vault: Arc<VaultStore>,
    audit: AuditLog,
    target: Target,
}

impl PlaceholderGuard {
    pub fn wrap(
        inner: ProxyBody,
        vault: Arc<VaultStore>,
        audit: AuditLog,
        target: Target,
    ) -> ProxyBody {
        HeldBack::wrap(
            inner,
            Self {
                vault,
                audit,
                target,
            },
        )
    }
}

impl PlaceholderGuard {
    /// Records the attempt; the error that stops the body.
    fn stop(&self, (placeholder, place): (Placeholder, Place)) -> BoxError {
        let attempt = in_stream(&self.vault.current(), &placeholder, place, &self.target);
        record_exfiltration(&self.audit, &attempt);
        Box::new(PlaceholderInBody)
    }
}

impl StreamFilter for PlaceholderGuard {
    const KEEPS_LENGTH: bool = true;

    fn pass(&mut self, held: &mut BytesMut) -> Result<Bytes, BoxError> {
        if let Some(found) = scan_body(held).into_iter().next() {
            return Err(self.stop(found));
        }
        // The last LEN - 1 bytes may be the start of a placeholder.
        let keep = LEN - 1;
        Ok(if held.len() > keep {
            held.split_to(held.len() - keep).freeze()
        } else {
            Bytes::new()
        })
    }

    /// Fewer bytes than a placeholder are left: nothing to look for.
    fn finish(&mut self, held: &mut BytesMut) -> Bytes {
        held.split().freeze()
    }

    fn trailers(&mut self, trailers: &mut http::HeaderMap) -> Result<(), BoxError> {
        match scan_trailers(trailers).into_iter().next() {
            Some(found) => Err(self.stop(found)),
            None => Ok(()),
        }
    }
}
