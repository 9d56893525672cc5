//! Request paths as rules see them.
//!
//! A rule that denies `/admin/**` must also deny `/%61dmin`, `//admin`
//! and `/x/../admin/`, which servers commonly treat as the same resource.
//! So before matching, a path is normalised the way RFC 3986 allows
//! (percent-decoding unreserved characters, removing dot segments) plus
//! what servers usually do (empty segments are dropped, so repeated and
//! trailing slashes do not count). The request itself goes upstream
//! unchanged.

use std::{borrow::Cow, fmt, ops::Range};

/// A normalised path, as a list of non-empty segments.
#[derive(Debug)]
pub struct RequestPath<'a> {
    text: Cow<'a, str>,
    bounds: Vec<Range<usize>>,
    escaped_root: bool,
}

impl RequestPath<'_> {
    #[must_use]
    pub fn segments(&self) -> Segments<'_> {
        Segments {
            text: &self.text,
            bounds: &self.bounds,
        }
    }

    /// Whether a `..` tried to climb above the root (it is then ignored,
    /// as RFC 3986 says).
    #[must_use]
    pub fn escaped_root(&self) -> bool {
        self.escaped_root
    }
}

/// The segments of a [`RequestPath`], indexable.
#[derive(Debug, Clone, Copy)]
pub struct Segments<'p> {
    text: &'p str,
    bounds: &'p [Range<usize>],
}

impl<'p> Segments<'p> {
    #[must_use]
    pub fn len(&self) -> usize {
        self.bounds.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &'p str> + use<'p> {
        let text = self.text;
        self.bounds.iter().map(move |b| &text[b.clone()])
    }
}

impl std::ops::Index<usize> for Segments<'_> {
    type Output = str;

    fn index(&self, index: usize) -> &str {
        &self.text[self.bounds[index].clone()]
    }
}

impl fmt::Display for RequestPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.bounds.is_empty() {
            return f.write_str("/");
        }
        for segment in self.segments().iter() {
            write!(f, "/{segment}")?;
        }
        Ok(())
    }
}

/// Normalises `raw` (a path as sent, without the query).
#[must_use]
pub fn normalize(raw: &str) -> RequestPath<'_> {
    let text = decode_unreserved(raw);
    let mut bounds: Vec<Range<usize>> = Vec::with_capacity(8);
    let mut escaped_root = false;
    let mut start = 0;
    for segment in text.split('/') {
        let range = start..start + segment.len();
        start = range.end + 1;
        match segment {
            "" | "." => {}
            ".." => escaped_root |= bounds.pop().is_none(),
            _ => bounds.push(range),
        }
    }
    RequestPath {
        text,
        bounds,
        escaped_root,
    }
}

/// Decodes `%XX` where XX is an unreserved character (letters, digits,
/// `-._~`), which RFC 3986 says is the same URI, and writes the hex digits
/// of the remaining escapes in upper case (`%2f` is `%2F`). `%2F` stays
/// encoded: decoding it would change the segments.
fn decode_unreserved(raw: &str) -> Cow<'_, str> {
    if !raw.contains('%') {
        return Cow::Borrowed(raw);
    }
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| Some((crate::hex::value(hex[0])? << 4) | crate::hex::value(hex[1])?));
        match escape {
            Some(byte) if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) => {
                out.push(char::from(byte));
                i += 3;
            }
            Some(_) => {
                out.push('%');
                out.push(char::from(bytes[i + 1].to_ascii_uppercase()));
                out.push(char::from(bytes[i + 2].to_ascii_uppercase()));
                i += 3;
            }
            None => {
                // Copy up to the next '%' in one go; `raw` is UTF-8 and
                // '%' is ASCII, so the slice boundaries are valid.
                let next = raw[i + 1..].find('%').map_or(raw.len(), |n| i + 1 + n);
                out.push_str(&raw[i..next]);
                i = next;
            }
        }
    }
    Cow::Owned(out)
}
