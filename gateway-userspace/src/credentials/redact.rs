//! Keeping an injected secret from coming back: every occurrence of it in
//! the response headers and body (also percent-encoded, JSON-escaped, and
//! for Basic auth the base64 of `user:secret`) becomes the placeholder.
//! The body is rewritten as it streams, holding back the last few bytes of
//! each chunk in case a secret straddles two chunks.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body::{Body, Frame};
use http_body_util::BodyExt as _;
use percent_encoding::utf8_percent_encode;
use zeroize::Zeroizing;

use super::inject::URL_ENCODE;
use crate::{
    intercept::{BoxError, ProxyBody},
    vault::{Placeholder, Position, SecretValue},
};

/// One form of a secret and what replaces it.
struct Swap {
    needle: Zeroizing<Vec<u8>>,
    replacement: Vec<u8>,
}

/// The secrets a request carried, for redacting its response. Holds the
/// secrets (zeroized on drop); prints nothing of them.
#[derive(Default, Clone)]
pub struct Injected {
    swaps: Arc<Vec<Swap>>,
}

impl std::fmt::Debug for Injected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Injected({} forms)", self.swaps.len())
    }
}

/// Raised when an upstream compresses a response to a request that
/// carried a secret: an echo could not be found in it.
#[derive(Debug, thiserror::Error)]
#[error(
    "the upstream sent a {0}-encoded response to a request that carried a secret; the gateway cannot check it for the secret and does not pass it on"
)]
pub struct EncodedResponse(pub String);

impl Injected {
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.swaps.is_empty()
    }

    pub(super) fn add(
        &mut self,
        position: &Position,
        placeholder: &Placeholder,
        secret: &SecretValue,
    ) {
        let ph = placeholder.as_str();
        let raw = secret.expose_str();
        let mut forms = vec![(raw.to_owned(), ph.to_owned())];
        forms.push((
            utf8_percent_encode(raw, URL_ENCODE).to_string(),
            ph.to_owned(),
        ));
        if let Ok(json) = serde_json::to_string(raw) {
            forms.push((json[1..json.len() - 1].to_owned(), ph.to_owned()));
        }
        if let Position::BasicAuth { user } = position {
            forms.push((
                BASE64.encode(format!("{user}:{raw}")),
                BASE64.encode(format!("{user}:{ph}")),
            ));
        }
        let swaps = Arc::get_mut(&mut self.swaps).expect("built before it is shared");
        for (needle, replacement) in forms {
            if !swaps.iter().any(|s| *s.needle == needle.as_bytes()) {
                swaps.push(Swap {
                    needle: Zeroizing::new(needle.into_bytes()),
                    replacement: replacement.into_bytes(),
                });
            }
        }
        // Longest first: where two forms start at the same byte, the longer wins.
        swaps.sort_by_key(|s| std::cmp::Reverse(s.needle.len()));
    }

    /// `text` with every form of the secrets replaced.
    #[must_use]
    pub fn redact_str(&self, text: &str) -> String {
        if self.is_empty() {
            return text.to_owned();
        }
        String::from_utf8_lossy(&self.rewrite(text.as_bytes(), true).0).into_owned()
    }

    /// The response with the secrets taken out of its headers, trailers and
    /// body. A compressed response is refused (see [`EncodedResponse`]).
    pub fn redact_response(
        &self,
        response: Response<ProxyBody>,
    ) -> Result<Response<ProxyBody>, EncodedResponse> {
        if self.is_empty() {
            return Ok(response);
        }
        let (mut parts, body) = response.into_parts();
        if let Some(encoding) = parts.headers.get(header::CONTENT_ENCODING)
            && !encoding.as_bytes().eq_ignore_ascii_case(b"identity")
        {
            return Err(EncodedResponse(
                String::from_utf8_lossy(encoding.as_bytes()).into_owned(),
            ));
        }
        self.redact_headers(&mut parts.headers);
        let rewrites_body = parts.status != StatusCode::SWITCHING_PROTOCOLS;
        if rewrites_body {
            // The length may change.
            parts.headers.remove(header::CONTENT_LENGTH);
        }
        let body = RedactedBody {
            inner: body,
            injected: self.clone(),
            carry: BytesMut::new(),
            trailers: None,
            done: false,
        };
        Ok(Response::from_parts(parts, body.boxed()))
    }

    fn redact_headers(&self, headers: &mut HeaderMap) {
        for value in headers.values_mut() {
            let (text, changed) = self.rewrite(value.as_bytes(), true);
            if changed && let Ok(new) = HeaderValue::from_bytes(&text) {
                *value = new;
            }
        }
    }

    fn longest(&self) -> usize {
        self.swaps.iter().map(|s| s.needle.len()).max().unwrap_or(0)
    }

    /// Replaces every complete form in `input`; returns the output and
    /// whether anything changed.
    fn rewrite(&self, input: &[u8], end: bool) -> (Vec<u8>, bool) {
        let (out, changed, _) = self.rewrite_from(input, end);
        (out, changed)
    }

    /// Like [`Injected::rewrite`]; unless `end`, stops before the last
    /// `longest - 1` bytes (a form may continue in the next chunk) and
    /// also returns how many input bytes were consumed.
    fn rewrite_from(&self, input: &[u8], end: bool) -> (Vec<u8>, bool, usize) {
        let safe = if end {
            input.len()
        } else {
            input.len().saturating_sub(self.longest().saturating_sub(1))
        };
        let mut out = Vec::with_capacity(input.len());
        let mut at = 0;
        let mut changed = false;
        loop {
            let next = self
                .swaps
                .iter()
                .filter_map(|s| memchr::memmem::find(&input[at..], &s.needle).map(|p| (at + p, s)))
                .min_by_key(|(p, _)| *p);
            match next {
                Some((p, swap)) if p < safe => {
                    out.extend_from_slice(&input[at..p]);
                    out.extend_from_slice(&swap.replacement);
                    at = p + swap.needle.len();
                    changed = true;
                }
                _ => break,
            }
        }
        let upto = safe.max(at);
        out.extend_from_slice(&input[at..upto]);
        (out, changed, upto)
    }
}

struct RedactedBody {
    inner: ProxyBody,
    injected: Injected,
    carry: BytesMut,
    /// Trailers that arrived while bytes were still held back.
    trailers: Option<HeaderMap>,
    done: bool,
}

impl Body for RedactedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
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
                        let (out, _, used) = self.injected.rewrite_from(&self.carry, false);
                        let _ = self.carry.split_to(used);
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(out.into()))));
                        }
                    }
                    Err(frame) => {
                        let Ok(mut trailers) = frame.into_trailers() else {
                            continue;
                        };
                        self.injected.redact_headers(&mut trailers);
                        // Trailers end the body: what is held back goes first.
                        if self.carry.is_empty() {
                            self.done = true;
                            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                        }
                        self.trailers = Some(trailers);
                        return Poll::Ready(Some(Ok(Frame::data(self.flush()))));
                    }
                },
                Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                None => {
                    self.done = true;
                    if self.carry.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(self.flush()))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.is_end()
    }
}

impl RedactedBody {
    fn is_end(&self) -> bool {
        self.trailers.is_none()
            && (self.done || (self.carry.is_empty() && self.inner.is_end_stream()))
    }

    fn flush(&mut self) -> Bytes {
        let (out, _, _) = self.injected.rewrite_from(&self.carry, true);
        self.carry.clear();
        out.into()
    }
}
