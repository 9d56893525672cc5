//! The TOML of policy and pack files, and compiling its match conditions.
//!
//! Values that can be wrong keep their span, so errors say line and
//! column.

use std::{collections::BTreeMap, ops::Range, path::Path};

use http::HeaderName;
use serde::Deserialize;
use toml::Spanned;

use super::{
    Action, PolicyError,
    body::FieldPath,
    glob::{PathGlob, ValueGlob},
    pattern::{HostPattern, PortRange},
    rule::HttpConditions,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    #[serde(default)]
    pub rules: Vec<RawRule>,
}

/// A `[[rules]]` entry: either a rule (`action`) or a pack (`pack`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub name: Spanned<String>,
    pub action: Option<Spanned<String>>,
    pub pack: Option<Spanned<String>>,
    pub read: Option<Spanned<String>>,
    pub write: Option<Spanned<String>>,
    pub reason: Option<Spanned<String>>,
    pub hosts: Option<Vec<Spanned<String>>>,
    pub ports: Option<Vec<Spanned<RawPort>>>,
    pub methods: Option<Vec<Spanned<String>>>,
    pub paths: Option<Vec<Spanned<String>>>,
    pub query: Option<Conditions>,
    pub headers: Option<Conditions>,
    pub body: Option<Conditions>,
}

/// A pack file: `policies/packs/<name>.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPack {
    pub name: Spanned<String>,
    pub description: String,
    pub hosts: Vec<Spanned<String>>,
    pub ports: Option<Vec<Spanned<RawPort>>>,
    #[serde(default)]
    pub read: Vec<Spanned<RawEndpoint>>,
    #[serde(default)]
    pub write: Vec<Spanned<RawEndpoint>>,
}

/// A `[[read]]` or `[[write]]` entry of a pack. `hosts` and `ports`, when
/// given, replace the pack's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoint {
    pub hosts: Option<Vec<Spanned<String>>>,
    pub ports: Option<Vec<Spanned<RawPort>>>,
    pub methods: Option<Vec<Spanned<String>>>,
    pub paths: Option<Vec<Spanned<String>>>,
    pub query: Option<Conditions>,
    pub headers: Option<Conditions>,
    pub body: Option<Conditions>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawPort {
    Number(u16),
    Range(String),
}

/// `{ key = "glob" }`. Booleans and numbers are accepted for their text,
/// so `draft = false` means the same as `draft = "false"`.
pub type Conditions = BTreeMap<String, Spanned<toml::Value>>;

/// A file being read, to turn spans into line and column.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub text: &'a str,
    pub path: &'a Path,
    /// Byte offset of each line's start, from [`line_starts`]: a large
    /// policy asks for thousands of positions.
    lines: &'a [usize],
}

/// What [`Source::new`] needs beside the text.
#[must_use]
pub fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

impl<'a> Source<'a> {
    pub fn new(text: &'a str, path: &'a Path, lines: &'a [usize]) -> Self {
        Self { text, path, lines }
    }

    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> PolicyError {
        let (line, column) = self.line_column(span.start);
        PolicyError::Invalid {
            path: self.path.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }

    /// TOML syntax and type errors, with the line and column toml found.
    pub fn syntax_error(&self, error: &toml::de::Error) -> PolicyError {
        match error.span() {
            Some(span) => self.error(span, error.message().trim_end()),
            None => PolicyError::Parse {
                path: self.path.to_owned(),
                message: error.to_string(),
            },
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.lines.partition_point(|&start| start <= offset);
        let start = self.lines[line - 1];
        (line, self.text[start..offset].chars().count() + 1)
    }
}

pub fn action(value: &Spanned<String>, src: &Source<'_>) -> Result<Action, PolicyError> {
    match value.get_ref().as_str() {
        "allow" => Ok(Action::Allow),
        "deny" => Ok(Action::Deny),
        "approve" => Ok(Action::Approve),
        other => Err(src.error(
            value.span(),
            format!("unknown action {other:?}: expected \"allow\", \"deny\" or \"approve\""),
        )),
    }
}

pub fn hosts(raw: &[Spanned<String>], src: &Source<'_>) -> Result<Vec<HostPattern>, PolicyError> {
    raw.iter()
        .map(|host| {
            host.get_ref()
                .parse::<HostPattern>()
                .map_err(|m| src.error(host.span(), m))
        })
        .collect()
}

pub fn ports(raw: &[Spanned<RawPort>], src: &Source<'_>) -> Result<Vec<PortRange>, PolicyError> {
    raw.iter()
        .map(|port| {
            match port.get_ref() {
                RawPort::Number(n) => Ok(PortRange::single(*n)),
                RawPort::Range(s) => s.parse::<PortRange>(),
            }
            .map_err(|m| src.error(port.span(), m))
        })
        .collect()
}

/// The HTTP part of a rule or pack endpoint: `None` when it has none.
pub struct HttpFields<'r> {
    pub methods: Option<&'r [Spanned<String>]>,
    pub paths: Option<&'r [Spanned<String>]>,
    pub query: Option<&'r Conditions>,
    pub headers: Option<&'r Conditions>,
    pub body: Option<&'r Conditions>,
}

impl<'r> HttpFields<'r> {
    pub fn of_rule(rule: &'r RawRule) -> Self {
        Self {
            methods: rule.methods.as_deref(),
            paths: rule.paths.as_deref(),
            query: rule.query.as_ref(),
            headers: rule.headers.as_ref(),
            body: rule.body.as_ref(),
        }
    }

    pub fn of_endpoint(endpoint: &'r RawEndpoint) -> Self {
        Self {
            methods: endpoint.methods.as_deref(),
            paths: endpoint.paths.as_deref(),
            query: endpoint.query.as_ref(),
            headers: endpoint.headers.as_ref(),
            body: endpoint.body.as_ref(),
        }
    }

    pub fn compile(&self, src: &Source<'_>) -> Result<Option<HttpConditions>, PolicyError> {
        let given = self.methods.is_some()
            || self.paths.is_some()
            || self.query.is_some()
            || self.headers.is_some()
            || self.body.is_some();
        if !given {
            return Ok(None);
        }
        let methods = self.methods.map(|m| methods(m, src)).transpose()?;
        let paths = self
            .paths
            .map(|paths| {
                paths
                    .iter()
                    .map(|p| PathGlob::new(p.get_ref()).map_err(|m| src.error(p.span(), m)))
                    .collect::<Result<Box<[_]>, _>>()
            })
            .transpose()?;
        let query = conditions(self.query, src, |key| Ok(Box::from(key)))?;
        let headers = conditions(self.headers, src, |name| {
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid header name {name:?}"))
        })?;
        let body = conditions(self.body, src, FieldPath::new)?;
        Ok(Some(HttpConditions {
            methods,
            paths,
            query,
            headers,
            body,
        }))
    }
}

fn methods(raw: &[Spanned<String>], src: &Source<'_>) -> Result<Box<[Box<str>]>, PolicyError> {
    raw.iter()
        .map(|m| {
            let method = m.get_ref();
            // An HTTP token; methods are in practice letters.
            if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
                return Err(src.error(
                    m.span(),
                    format!("invalid method {method:?}: expected a name such as \"GET\""),
                ));
            }
            Ok(method.to_ascii_uppercase().into())
        })
        .collect()
}

/// Compiles `{ key = "glob" }`, checking each key with `key`.
fn conditions<K>(
    raw: Option<&Conditions>,
    src: &Source<'_>,
    key: impl Fn(&str) -> Result<K, String>,
) -> Result<Box<[(K, ValueGlob)]>, PolicyError> {
    let Some(raw) = raw else {
        return Ok(Box::default());
    };
    raw.iter()
        .map(|(name, value)| {
            let name = key(name).map_err(|m| src.error(value.span(), m))?;
            let text = match value.get_ref() {
                toml::Value::String(s) => s.clone(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(x) => x.to_string(),
                _ => {
                    return Err(src.error(value.span(), "expected a string glob, such as \"a*\""));
                }
            };
            Ok((name, ValueGlob::new(&text)))
        })
        .collect()
}
