//! Watching the rest of a streamed request body for placeholders. Each
//! chunk is searched together with the tail of the one before, and that
//! tail (one byte shorter than a placeholder) is held back until the next
//! chunk, so a placeholder never reaches the upstream whole: when one
//! shows up the body fails, which aborts the upstream request.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame};
use http_body_util::BodyExt as _;

use crate::audit::AuditLog;

use super::{Target, inject::in_body, record_exfiltration, scan::scan_body};
use crate::{
    intercept::{BoxError, ProxyBody},
    vault::{placeholder::LEN, store::VaultStore},
};

type Polled = Poll<Option<Result<Frame<Bytes>, BoxError>>>;

#[derive(Debug, thiserror::Error)]
#[error("the request body carried a credential placeholder; the gateway stopped it")]
pub struct PlaceholderInBody;

pub struct PlaceholderGuard {
    inner: ProxyBody,
    vault: Arc<VaultStore>,
    audit: AuditLog,
    target: Target,
    carry: BytesMut,
    /// Trailers that arrived while bytes were still held back.
    trailers: Option<http::HeaderMap>,
    done: bool,
}

impl PlaceholderGuard {
    pub fn wrap(
        inner: ProxyBody,
        vault: Arc<VaultStore>,
        audit: AuditLog,
        target: Target,
    ) -> ProxyBody {
        Self {
            inner,
            vault,
            audit,
            target,
            carry: BytesMut::new(),
            trailers: None,
            done: false,
        }
        .boxed()
    }

    fn blocked(&mut self) -> Option<Polled> {
        let (placeholder, _) = scan_body(&self.carry).into_iter().next()?;
        let attempt = in_body(&self.vault.current(), &placeholder, &self.target);
        record_exfiltration(&self.audit, &attempt);
        self.done = true;
        self.carry.clear();
        Some(Poll::Ready(Some(Err(Box::new(PlaceholderInBody)))))
    }
}

impl Body for PlaceholderGuard {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Polled {
        loop {
            if let Some(trailers) = self.trailers.take() {
                self.done = true;
                return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
            }
            if self.done {
                return Poll::Ready(None);
            }
            let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(frame) => frame,
            };
            match frame {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        self.carry.extend_from_slice(&data);
                        if let Some(blocked) = self.blocked() {
                            return blocked;
                        }
                        let keep = LEN - 1;
                        if self.carry.len() > keep {
                            let ready = self.carry.len() - keep;
                            return Poll::Ready(Some(Ok(Frame::data(
                                self.carry.split_to(ready).freeze(),
                            ))));
                        }
                    }
                    Err(frame) => {
                        let Ok(trailers) = frame.into_trailers() else {
                            continue;
                        };
                        if self.carry.is_empty() {
                            self.done = true;
                            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                        }
                        self.trailers = Some(trailers);
                        let rest = self.carry.split().freeze();
                        return Poll::Ready(Some(Ok(Frame::data(rest))));
                    }
                },
                Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                None => {
                    self.done = true;
                    if self.carry.is_empty() {
                        return Poll::Ready(None);
                    }
                    let rest = self.carry.split().freeze();
                    return Poll::Ready(Some(Ok(Frame::data(rest))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.trailers.is_none()
            && (self.done || (self.carry.is_empty() && self.inner.is_end_stream()))
    }

    /// The length does not change: the inner body's plus what is held back.
    fn size_hint(&self) -> http_body::SizeHint {
        let inner = self.inner.size_hint();
        let held = self.carry.len() as u64;
        let mut hint = http_body::SizeHint::new();
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + held);
        }
        hint.set_lower(inner.lower() + held);
        hint
    }
}
