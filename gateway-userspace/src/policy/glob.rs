//! Globs, compiled once when the policy loads.
//!
//! Two kinds: [`PathGlob`] works on path segments (`*` is one segment,
//! `**` any number of them); [`ValueGlob`] works on characters (`*` is any
//! run of characters) and serves query, header and body values.

use std::fmt;

use super::path::{RequestPath, normalize};

/// A glob over a whole request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathGlob {
    text: Box<str>,
    segments: Box<[Segment]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// The segment exactly.
    Literal(Box<str>),
    /// A segment with `*` in it: `*` alone is any one segment, `v1.*`
    /// any segment that starts with `v1.`.
    Pattern(ValueGlob),
    /// `**`: zero or more segments.
    AnyDepth,
}

impl PathGlob {
    /// Compiles `text`; the error says what is wrong with it.
    pub fn new(text: &str) -> Result<Self, String> {
        let invalid = |why: &str| format!("invalid path glob {text:?}: {why}");
        if !text.starts_with('/') {
            return Err(invalid("it must start with '/'"));
        }
        if text.contains(['?', '#']) {
            return Err(invalid(
                "a path glob matches the path only; put query conditions in `query`",
            ));
        }
        // The glob goes through the same normalisation as request paths,
        // so that `/a%2Db/` and `/a-b` are the same glob.
        let normalized = normalize(text);
        let mut segments = Vec::with_capacity(normalized.segments().len());
        for segment in normalized.segments().iter() {
            segments.push(match segment {
                "**" => Segment::AnyDepth,
                s if s.contains("**") => {
                    return Err(invalid("`**` must be a whole segment, as in /a/**/b"));
                }
                s if s.contains('*') => Segment::Pattern(ValueGlob::new(s)),
                s => Segment::Literal(s.into()),
            });
        }
        if normalized.escaped_root() {
            return Err(invalid("`..` climbs above the root"));
        }
        Ok(Self {
            text: text.into(),
            segments: segments.into(),
        })
    }

    /// The literal segments the glob starts with: every path it matches
    /// starts with them, which lets the index file rules by them.
    pub fn literal_prefix(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().map_while(|s| match s {
            Segment::Literal(literal) => Some(&**literal),
            Segment::Pattern(_) | Segment::AnyDepth => None,
        })
    }

    /// Whether the glob matches the whole of `path`.
    ///
    /// The classic wildcard algorithm, with segments for characters and
    /// `**` for `*`: on a mismatch it retries from the last `**`, taking
    /// one more segment into it. Linear in practice, never exponential.
    #[must_use]
    pub fn matches(&self, path: &RequestPath<'_>) -> bool {
        let (glob, path) = (&*self.segments, path.segments());
        let (mut g, mut p) = (0, 0);
        // Position after the last `**` seen, and the path position it was
        // tried at.
        let mut backtrack: Option<(usize, usize)> = None;
        while p < path.len() {
            match glob.get(g) {
                Some(Segment::AnyDepth) => {
                    backtrack = Some((g + 1, p));
                    g += 1;
                }
                Some(segment) if segment.matches(&path[p]) => {
                    g += 1;
                    p += 1;
                }
                _ => match backtrack {
                    Some((after_star, tried)) => {
                        g = after_star;
                        p = tried + 1;
                        backtrack = Some((after_star, tried + 1));
                    }
                    None => return false,
                },
            }
        }
        glob[g..].iter().all(|s| matches!(s, Segment::AnyDepth))
    }
}

impl Segment {
    fn matches(&self, segment: &str) -> bool {
        match self {
            Self::Literal(literal) => **literal == *segment,
            Self::Pattern(glob) => glob.matches(segment),
            Self::AnyDepth => true,
        }
    }
}

impl fmt::Display for PathGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A glob over a value: `*` is any run of characters, possibly empty;
/// everything else is literal and case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueGlob {
    text: Box<str>,
    /// The text between the stars; with no star, the one literal.
    parts: Box<[Box<str>]>,
}

impl ValueGlob {
    #[must_use]
    pub fn new(text: &str) -> Self {
        Self {
            text: text.into(),
            parts: text.split('*').map(Box::from).collect(),
        }
    }

    #[must_use]
    pub fn matches(&self, value: &str) -> bool {
        let Some((first, rest)) = self.parts.split_first() else {
            return value.is_empty();
        };
        let Some((last, middle)) = rest.split_last() else {
            return value == &**first;
        };
        let Some(mut value) = value.strip_prefix(&**first) else {
            return false;
        };
        for part in middle {
            match value.find(&**part) {
                Some(at) => value = &value[at + part.len()..],
                None => return false,
            }
        }
        value.ends_with(&**last)
    }
}

impl fmt::Display for ValueGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests;
