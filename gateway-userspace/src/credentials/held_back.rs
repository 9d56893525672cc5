//! A streamed body passed through a filter that may need the bytes after
//! a chunk before it can let the chunk's end go: a placeholder or a secret
//! may straddle two chunks. What the filter holds back waits for the next
//! chunk; trailers wait until it has been let go; at the end of the body
//! the filter lets go of the rest.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt as _;

use crate::intercept::{BoxError, ProxyBody};

/// What a [`HeldBack`] body does to the bytes going through.
pub trait StreamFilter: Send + Sync + Unpin + 'static {
    /// Whether the filter leaves the length unchanged (so the body's size
    /// hint can be passed on).
    const KEEPS_LENGTH: bool;

    /// `held` is everything not yet let go, the newest chunk at its end.
    /// Returns what may go on now, taken from the front of `held` (and
    /// rewritten, if the filter rewrites); the rest stays held. An error
    /// fails the body, which aborts the request or response it belongs to.
    fn pass(&mut self, held: &mut BytesMut) -> Result<Bytes, BoxError>;

    /// The body ended: everything left in `held`, as it may go on.
    fn finish(&mut self, held: &mut BytesMut) -> Bytes;

    /// Looks at (and may rewrite) the trailers; an error fails the body
    /// instead of sending them.
    fn trailers(&mut self, _trailers: &mut HeaderMap) -> Result<(), BoxError> {
        Ok(())
    }
}

pub struct HeldBack<F> {
    inner: ProxyBody,
    filter: F,
    held: BytesMut,
    /// Trailers that arrived while bytes were still held back.
    trailers: Option<HeaderMap>,
    done: bool,
}

type Polled = Poll<Option<Result<Frame<Bytes>, BoxError>>>;

impl<F: StreamFilter> HeldBack<F> {
    pub fn wrap(inner: ProxyBody, filter: F) -> ProxyBody {
        Self {
            inner,
            filter,
            held: BytesMut::new(),
            trailers: None,
            done: false,
        }
        .boxed()
    }

    /// The filter refused: the body ends with its error, nothing held goes.
    fn fail(&mut self, error: BoxError) -> Polled {
        self.done = true;
        self.held.clear();
        Poll::Ready(Some(Err(error)))
    }

    /// The end of the body: what is still held goes, then nothing more.
    fn finish(&mut self) -> Polled {
        self.done = true;
        if self.held.is_empty() {
            return Poll::Ready(None);
        }
        let rest = self.filter.finish(&mut self.held);
        Poll::Ready(Some(Ok(Frame::data(rest))))
    }
}

impl<F: StreamFilter> Body for HeldBack<F> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Polled {
        let this = &mut *self;
        loop {
            if let Some(trailers) = this.trailers.take() {
                this.done = true;
                return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
            }
            if this.done {
                return Poll::Ready(None);
            }
            let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return this.finish(),
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
                Poll::Ready(Some(Ok(frame))) => frame,
            };
            let frame = match frame.into_data() {
                Ok(data) => {
                    this.held.extend_from_slice(&data);
                    match this.filter.pass(&mut this.held) {
                        Ok(ready) if ready.is_empty() => continue,
                        Ok(ready) => return Poll::Ready(Some(Ok(Frame::data(ready)))),
                        Err(error) => return this.fail(error),
                    }
                }
                Err(frame) => frame,
            };
            let Ok(mut trailers) = frame.into_trailers() else {
                continue;
            };
            if let Err(error) = this.filter.trailers(&mut trailers) {
                return this.fail(error);
            }
            // Trailers end the body: what is held back goes first.
            this.trailers = Some(trailers);
            if !this.held.is_empty() {
                let rest = this.filter.finish(&mut this.held);
                return Poll::Ready(Some(Ok(Frame::data(rest))));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.trailers.is_none()
            && (self.done || (self.held.is_empty() && self.inner.is_end_stream()))
    }

    fn size_hint(&self) -> SizeHint {
        if !F::KEEPS_LENGTH {
            return SizeHint::default();
        }
        // The inner body's length plus what is held back.
        let inner = self.inner.size_hint();
        let held = self.held.len() as u64;
        let mut hint = SizeHint::new();
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + held);
        }
        hint.set_lower(inner.lower() + held);
        hint
    }
}

#[cfg(test)]
mod tests {

    use http::HeaderValue;

    use super::*;
    use crate::credentials::tests::Frames;

    /// Holds back the last two bytes; fails on `!`; marks trailers.
    struct HoldTwo;

    impl StreamFilter for HoldTwo {
        const KEEPS_LENGTH: bool = true;

        fn pass(&mut self, held: &mut BytesMut) -> Result<Bytes, BoxError> {
            if held.contains(&b'!') {
                return Err("a bang".into());
            }
            let ready = held.len().saturating_sub(2);
            Ok(held.split_to(ready).freeze())
        }

        fn finish(&mut self, held: &mut BytesMut) -> Bytes {
            held.split().freeze()
        }

        fn trailers(&mut self, trailers: &mut HeaderMap) -> Result<(), BoxError> {
            if trailers.contains_key("x-bang") {
                return Err("a bang in the trailers".into());
            }
            trailers.insert("x-filtered", HeaderValue::from_static("yes"));
            Ok(())
        }
    }

    fn body(frames: Vec<Frame<Bytes>>) -> ProxyBody {
        HeldBack::wrap(Frames(frames.into()).boxed(), HoldTwo)
    }

    /// Every frame the body yields, in order: data as text, trailers as
    /// `trailers x-filtered=…`, an error as `error …`.
    async fn frames(mut body: ProxyBody) -> Vec<String> {
        let mut seen = Vec::new();
        while let Some(frame) = body.frame().await {
            seen.push(match frame {
                Err(error) => format!("error {error}"),
                Ok(frame) => match frame.into_data() {
                    Ok(data) => String::from_utf8_lossy(&data).into_owned(),
                    Err(frame) => {
                        let trailers = frame.into_trailers().expect("data or trailers");
                        format!("trailers x-filtered={:?}", trailers.get("x-filtered"))
                    }
                },
            });
        }
        seen
    }

    #[tokio::test]
    async fn held_bytes_go_before_the_trailers_and_at_the_end() {
        let mut trailers = HeaderMap::new();
        trailers.insert("x-sum", HeaderValue::from_static("1"));
        let seen = frames(body(vec![
            Frame::data(Bytes::from_static(b"ab")),
            Frame::data(Bytes::from_static(b"c")),
            Frame::data(Bytes::from_static(b"def")),
            Frame::trailers(trailers),
        ]))
        .await;
        assert_eq!(
            seen,
            ["a", "bcd", "ef", "trailers x-filtered=Some(\"yes\")"],
            "a chunk that frees nothing yields no empty frame"
        );
        let seen = frames(body(vec![Frame::data(Bytes::from_static(b"xyz"))])).await;
        assert_eq!(seen, ["x", "yz"], "the end lets go of what is held");
    }

    #[tokio::test]
    async fn a_failing_filter_ends_the_body_with_its_error() {
        let seen = frames(body(vec![
            Frame::data(Bytes::from_static(b"abc")),
            Frame::data(Bytes::from_static(b"d!e")),
            Frame::data(Bytes::from_static(b"never")),
        ]))
        .await;
        assert_eq!(seen, ["a", "error a bang"], "nothing after the error");

        let mut trailers = HeaderMap::new();
        trailers.insert("x-bang", HeaderValue::from_static("1"));
        let seen = frames(body(vec![
            Frame::data(Bytes::from_static(b"abc")),
            Frame::trailers(trailers),
        ]))
        .await;
        assert_eq!(
            seen,
            ["a", "error a bang in the trailers"],
            "refused trailers: neither they nor the held bytes go"
        );
    }

    #[test]
    fn the_size_hint_counts_held_bytes_when_the_length_is_kept() {
        let inner = http_body_util::Full::new(Bytes::from_static(b"12345"))
            .map_err(|never| match never {})
            .boxed();
        let body = HeldBack::wrap(inner, HoldTwo);
        assert_eq!(body.size_hint().exact(), Some(5));
    }
}
