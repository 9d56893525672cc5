//! Swapping placeholders for secrets in the bound position, and refusing
//! every placeholder that is anywhere else.

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use http::{HeaderName, HeaderValue, Uri, header, request::Parts, uri::PathAndQuery};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use zeroize::Zeroizing;

use super::{
    Exfiltration, Injected, Place, Reason, Target,
    scan::{basic_credentials, scan_body, scan_request},
};
use crate::vault::{
    Placeholder, Position, SecretValue,
    binding::SLOT,
    store::{Unsealed, Usable},
};

/// What a secret is percent-encoded with in a path or query: all but the
/// unreserved characters.
pub const URL_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub fn inject(
    vault: &Unsealed,
    parts: &mut Parts,
    body_prefix: Option<&[u8]>,
    target: &Target,
) -> Result<Injected, Box<Exfiltration>> {
    let blocked = |placeholder: &Placeholder, place: &Place, reason: Reason| {
        Box::new(Exfiltration {
            agent: target.agent.clone(),
            secret: vault.lookup(placeholder).map(|u| u.secret.name.clone()),
            host: target.host.clone(),
            place: place.clone(),
            reason,
            placeholder: placeholder.clone(),
            request_id: target.request_id.clone(),
        })
    };
    // A body is never a bound position.
    if let Some((placeholder, _)) = body_prefix
        .map(scan_body)
        .and_then(|f| f.into_iter().next())
    {
        return Err(Box::new(in_stream(
            vault,
            &placeholder,
            Place::Body,
            target,
        )));
    }
    let found = scan_request(parts, &target.host);
    if found.is_empty() {
        return Ok(Injected::none());
    }
    let mut usable: Vec<(Placeholder, &Usable)> = Vec::new();
    for (placeholder, place) in &found {
        let entry = vault.lookup(placeholder);
        check(entry, target).map_err(|reason| blocked(placeholder, place, reason))?;
        if let Some(entry) = entry
            && !usable.iter().any(|(p, _)| p == placeholder)
        {
            usable.push((placeholder.clone(), entry));
        }
    }
    let mut injected = Injected::none();
    for (placeholder, entry) in usable {
        let secret = &entry.secret;
        if substitute(parts, &secret.binding.position, &placeholder, &secret.value) {
            injected.add(&secret.binding.position, &placeholder, &secret.value);
            tracing::debug!(agent = %target.agent, secret = %secret.name, host = %target.host, request_id = %target.request_id, "secret injected");
        }
    }
    // Whatever is left was not in the bound position.
    if let Some((placeholder, place)) = scan_request(parts, &target.host).into_iter().next() {
        return Err(blocked(&placeholder, &place, Reason::UnboundPosition));
    }
    if !injected.is_empty() {
        // An echo of the secret must be readable to be redacted.
        parts.headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
    }
    Ok(injected)
}

/// A placeholder found in a request body or its trailers (`place`):
/// never a bound position.
pub fn in_stream(
    vault: &Unsealed,
    placeholder: &Placeholder,
    place: Place,
    target: &Target,
) -> Exfiltration {
    let entry = vault.lookup(placeholder);
    Exfiltration {
        agent: target.agent.clone(),
        secret: entry.map(|u| u.secret.name.clone()),
        host: target.host.clone(),
        place,
        reason: check(entry, target)
            .err()
            .unwrap_or(Reason::UnboundPosition),
        placeholder: placeholder.clone(),
        request_id: target.request_id.clone(),
    }
}

/// Whether this agent may use the placeholder's secret towards this host.
fn check(entry: Option<&Usable>, target: &Target) -> Result<(), Reason> {
    let entry = entry.ok_or(Reason::Unknown)?;
    if entry.agent != target.agent {
        return Err(Reason::OtherAgent(entry.agent.clone()));
    }
    if !entry.secret.binding.allows_host(&target.host) {
        return Err(Reason::UnboundHost);
    }
    if !target.tls {
        return Err(Reason::PlainHttp);
    }
    Ok(())
}

/// Replaces the placeholder where the binding puts the secret, if it is
/// exactly there; returns whether it did.
fn substitute(
    parts: &mut Parts,
    position: &Position,
    placeholder: &Placeholder,
    secret: &SecretValue,
) -> bool {
    let ph = placeholder.as_str();
    match position {
        Position::Header { name, format } => {
            let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                return false;
            };
            let want = format.replace(SLOT, ph);
            replace_header(parts, &name, |value| {
                (value.as_bytes() == want.as_bytes())
                    .then(|| format.replace(SLOT, secret.expose_str()))
            })
        }
        Position::BasicAuth { user } => replace_header(parts, &header::AUTHORIZATION, |value| {
            let (u, password) = basic_credentials(value.as_bytes())?;
            (u == *user && password == ph).then(|| {
                format!(
                    "Basic {}",
                    BASE64.encode(format!("{user}:{}", secret.expose_str()))
                )
            })
        }),
        Position::Query { key } => {
            let Some(query) = parts.uri.query() else {
                return false;
            };
            let encoded =
                Zeroizing::new(utf8_percent_encode(secret.expose_str(), URL_ENCODE).to_string());
            let mut hit = false;
            let pairs: Zeroizing<Vec<String>> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, v))
                        if percent_decode_str(k).decode_utf8_lossy() == key.as_str()
                            && percent_decode_str(v).decode_utf8_lossy() == ph =>
                    {
                        hit = true;
                        format!("{k}={}", *encoded)
                    }
                    _ => pair.to_owned(),
                })
                .collect::<Vec<_>>()
                .into();
            let new = Zeroizing::new(format!("{}?{}", parts.uri.path(), pairs.join("&")));
            hit && set_path_and_query(parts, &new)
        }
        Position::Path { template } => {
            let want = template.replace(SLOT, ph);
            let path = parts.uri.path();
            if !path.contains(&want) {
                return false;
            }
            let encoded =
                Zeroizing::new(utf8_percent_encode(secret.expose_str(), URL_ENCODE).to_string());
            let mut new =
                Zeroizing::new(path.replacen(&want, &template.replace(SLOT, &encoded), 1));
            if let Some(query) = parts.uri.query() {
                new.push('?');
                new.push_str(query);
            }
            set_path_and_query(parts, &new)
        }
    }
}

/// Rewrites the values of header `name` that `rewrite` maps to a new one
/// (marked sensitive, so HTTP/2 never indexes it).
fn replace_header(
    parts: &mut Parts,
    name: &HeaderName,
    rewrite: impl Fn(&HeaderValue) -> Option<String>,
) -> bool {
    let values: Vec<HeaderValue> = parts.headers.get_all(name).iter().cloned().collect();
    let mut hit = false;
    let mut new = Vec::with_capacity(values.len());
    for value in values {
        // The text holds the secret: zeroized once the header value is made.
        let text = rewrite(&value).map(Zeroizing::new);
        match text.and_then(|text| HeaderValue::from_str(&text).ok()) {
            Some(mut secret) => {
                secret.set_sensitive(true);
                new.push(secret);
                hit = true;
            }
            None => new.push(value),
        }
    }
    if hit {
        parts.headers.remove(name);
        for value in new {
            parts.headers.append(name.clone(), value);
        }
    }
    hit
}

fn set_path_and_query(parts: &mut Parts, text: &str) -> bool {
    let Ok(path_and_query) = PathAndQuery::try_from(text) else {
        return false;
    };
    let mut uri = parts.uri.clone().into_parts();
    uri.path_and_query = Some(path_and_query);
    match Uri::from_parts(uri) {
        Ok(uri) => {
            parts.uri = uri;
            true
        }
        Err(_) => false,
    }
}
