//! Policy packs: one service's endpoints, split into read and write, in
//! `<policy directory>/packs/<name>.toml`. A policy rule with `pack =
//! "<name>"` expands in place into one rule per endpoint. Adding a pack is
//! adding a file.

use std::{
    io::ErrorKind,
    path::{Path, PathBuf},
    sync::Arc,
};

use super::{
    PolicyError,
    pattern::{HostPattern, PortRange},
    rule::HttpConditions,
    sources::{FileState, Sources},
    syntax::{self, HttpFields, RawPack, Source},
};

#[derive(Debug)]
pub struct Pack {
    pub name: Arc<str>,
    pub description: Arc<str>,
    pub file: Arc<Path>,
    /// In file order, read and write interleaved as written.
    pub endpoints: Vec<Endpoint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Read,
    Write,
}

impl Side {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

#[derive(Debug)]
pub struct Endpoint {
    pub side: Side,
    pub line: usize,
    pub hosts: Vec<HostPattern>,
    pub ports: Option<Vec<PortRange>>,
    pub http: HttpConditions,
}

/// Where pack `name` is looked for, for a policy in `policy_dir`.
#[must_use]
pub fn file(policy_dir: &Path, name: &str) -> PathBuf {
    policy_dir.join("packs").join(format!("{name}.toml"))
}

/// Pack names are file names: this keeps `pack = "../x"` from reading
/// outside the packs directory.
#[must_use]
pub fn is_valid_name(name: &str) -> bool {
    name.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Reads and compiles a pack; `Ok(None)` when the file does not exist.
pub fn load(path: &Path, name: &str, sources: &mut Sources) -> Result<Option<Pack>, PolicyError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) => {
            sources.record(path, FileState::Missing);
            if error.kind() == ErrorKind::NotFound {
                return Ok(None);
            }
            return Err(PolicyError::Read {
                path: path.to_owned(),
                source: error,
            });
        }
    };
    sources.record(path, FileState::of(&bytes));
    let text = String::from_utf8(bytes).map_err(|e| PolicyError::Read {
        path: path.to_owned(),
        source: std::io::Error::new(ErrorKind::InvalidData, e),
    })?;
    parse(&text, path, name).map(Some)
}

fn parse(text: &str, path: &Path, name: &str) -> Result<Pack, PolicyError> {
    let lines = syntax::line_starts(text);
    let src = Source::new(text, path, &lines);
    let raw: RawPack = toml::from_str(text).map_err(|e| src.syntax_error(&e))?;
    if raw.name.get_ref() != name {
        return Err(src.error(
            raw.name.span(),
            format!(
                "the pack in {name}.toml must be named {name:?}, not {:?}",
                raw.name.get_ref()
            ),
        ));
    }
    let hosts = syntax::hosts(&raw.hosts, &src)?;
    let ports = raw
        .ports
        .as_deref()
        .map(|p| syntax::ports(p, &src))
        .transpose()?;
    let mut entries: Vec<_> = (raw.read.iter().map(|e| (Side::Read, e)))
        .chain(raw.write.iter().map(|e| (Side::Write, e)))
        .collect();
    // Serde gives reads and writes apart; the spans give the file order.
    entries.sort_by_key(|(_, e)| e.span().start);
    if entries.is_empty() {
        return Err(src.error(
            raw.name.span(),
            "the pack has no [[read]] or [[write]] endpoints",
        ));
    }
    let mut endpoints = Vec::with_capacity(entries.len());
    for (side, entry) in entries {
        let endpoint = entry.get_ref();
        let Some(http) = HttpFields::of_endpoint(endpoint).compile(&src)? else {
            return Err(src.error(
                entry.span(),
                "a pack endpoint needs methods or paths (it describes HTTP requests)",
            ));
        };
        endpoints.push(Endpoint {
            side,
            line: src.line_column(entry.span().start).0,
            hosts: match &endpoint.hosts {
                Some(own) => syntax::hosts(own, &src)?,
                None => hosts.clone(),
            },
            ports: match &endpoint.ports {
                Some(own) => Some(syntax::ports(own, &src)?),
                None => ports.clone(),
            },
            http,
        });
    }
    Ok(Pack {
        name: name.into(),
        description: raw.description.into(),
        file: path.into(),
        endpoints,
    })
}
