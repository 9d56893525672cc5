//! Watching the rest of a streamed request body for placeholders. Each
//! chunk is searched together with the tail of the one before, and that
//! tail (one byte shorter than a placeholder) is held back until the next
//! chunk, so a placeholder never reaches the upstream whole: when one
//! shows up the body fails, which aborts the upstream request.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::{
    Target,
    held_back::{HeldBack, StreamFilter},
    inject::in_body,
    record_exfiltration,
    scan::scan_body,
};
use crate::{
    audit::AuditLog,
    intercept::{BoxError, ProxyBody},
    vault::{placeholder::LEN, store::VaultStore},
};

#[derive(Debug, thiserror::Error)]
#[error("the request body carried a credential placeholder; the gateway stopped it")]
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

impl StreamFilter for PlaceholderGuard {
    const KEEPS_LENGTH: bool = true;

    fn pass(&mut self, held: &mut BytesMut) -> Result<Bytes, BoxError> {
        if let Some((placeholder, _)) = scan_body(held).into_iter().next() {
            let attempt = in_body(&self.vault.current(), &placeholder, &self.target);
            record_exfiltration(&self.audit, &attempt);
            return Err(Box::new(PlaceholderInBody));
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
}
