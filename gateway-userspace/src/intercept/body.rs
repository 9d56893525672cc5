//! Request and response bodies as the proxy passes them on: streamed,
//! never held whole. When a policy looks into bodies, the first part is
//! read ahead and put back in front of the rest.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt as _, Full, combinators::BoxBody};
use hyper::body::Incoming;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// A whole body from bytes the gateway wrote itself.
pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An incoming body passed on as it arrives.
pub fn stream(body: Incoming) -> ProxyBody {
    body.map_err(BoxError::from).boxed()
}

/// Reads up to `limit` bytes from the front of `body`, returning them and
/// a body that yields them again followed by the rest.
pub async fn read_prefix(mut body: Incoming, limit: usize) -> Result<(Bytes, ProxyBody), BoxError> {
    let mut prefix = bytes::BytesMut::new();
    let mut trailers = None;
    let mut ended = false;
    while prefix.len() < limit {
        match body.frame().await {
            None => {
                ended = true;
                break;
            }
            Some(frame) => match frame?.into_data() {
                Ok(data) => prefix.extend_from_slice(&data),
                Err(frame) => {
                    trailers = frame.into_trailers().ok();
                    ended = true;
                    break;
                }
            },
        }
    }
    let prefix = prefix.freeze();
    let rest = if ended { None } else { Some(body) };
    let replay = Prefixed {
        prefix: Some(prefix.clone()).filter(|p| !p.is_empty()),
        trailers,
        rest,
    };
    Ok((prefix, replay.boxed()))
}

struct Prefixed {
    prefix: Option<Bytes>,
    trailers: Option<http::HeaderMap>,
    rest: Option<Incoming>,
}

impl Body for Prefixed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(prefix) = self.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        if let Some(rest) = self.rest.as_mut() {
            return Pin::new(rest).poll_frame(cx).map_err(BoxError::from);
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_none()
            && self.trailers.is_none()
            && self.rest.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let prefix = self.prefix.as_ref().map_or(0, |p| p.len() as u64);
        let rest = self
            .rest
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint);
        // Built afresh: `SizeHint::set_lower` asserts against the current
        // upper bound, so raising the bounds one at a time could panic.
        let mut hint = SizeHint::new();
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + prefix);
        }
        hint.set_lower(rest.lower() + prefix);
        hint
    }
}

/// Reads and drops what is left of a request body the gateway answers
/// itself, up to `limit` bytes or `wait`: closing a connection with
/// unread data makes the kernel reset it, and the agent could lose the
/// answer. Past the limit, the connection is closed anyway.
pub async fn discard(mut body: ProxyBody, limit: usize, wait: std::time::Duration) {
    let drain = async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                seen += data.len();
                if seen > limit {
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(wait, drain).await;
}

/// Reads a whole body into memory, up to `cap` bytes; past that, the
/// rest of the body (to be drained before answering). Trailers are
/// dropped. For requests that need approval, which binds the whole body.
pub async fn read_whole(
    mut body: ProxyBody,
    cap: usize,
) -> Result<Result<Bytes, ProxyBody>, BoxError> {
    let mut whole = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if whole.len() + data.len() > cap {
                return Ok(Err(body));
            }
            whole.extend_from_slice(&data);
        }
    }
    Ok(Ok(whole.freeze()))
}
