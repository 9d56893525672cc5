//! Keeping an injected secret from coming back: every occurrence of it in
//! the response headers and body (also percent-encoded, JSON-escaped, and
//! for Basic auth the base64 of `user:secret`) becomes the placeholder.
//! The body is rewritten as it streams, holding back the last few bytes of
//! each chunk in case a secret straddles two chunks.

use std::sync::Arc;

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use percent_encoding::utf8_percent_encode;
use zeroize::Zeroizing;

use super::{
    held_back::{HeldBack, StreamFilter},
    inject::URL_ENCODE,
};
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
        let body = HeldBack::wrap(body, Redaction(self.clone()));
        Ok(Response::from_parts(parts, body))
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
    pub(super) fn rewrite(&self, input: &[u8], end: bool) -> (Vec<u8>, bool) {
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

/// The response body's filter: secrets become placeholders as it streams.
struct Redaction(Injected);

impl StreamFilter for Redaction {
    const KEEPS_LENGTH: bool = false;

    fn pass(&mut self, held: &mut BytesMut) -> Result<Bytes, BoxError> {
        let (out, _, used) = self.0.rewrite_from(held, false);
        let _ = held.split_to(used);
        Ok(out.into())
    }

    fn finish(&mut self, held: &mut BytesMut) -> Bytes {
        let (out, _, _) = self.0.rewrite_from(held, true);
        held.clear();
        out.into()
    }

    fn trailers(&mut self, trailers: &mut HeaderMap) -> Result<(), BoxError> {
        self.0.redact_headers(trailers);
        Ok(())
    }
}
