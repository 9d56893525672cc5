//! Credentials on the way out: the proxy's side of the vault.
//!
//! After the policy allowed a request, [`Credentials::inject`] looks for
//! placeholders (`gwph-…`) in the host, path, query, headers (Basic auth
//! decoded) and the first part of the body. Each one must be this agent's,
//! for a secret bound to this host, and sit exactly in the secret's bound
//! position; it is then swapped for the real secret. Anything else, a
//! placeholder of another agent, an unknown one, one for another host or
//! in another position (a body, a query parameter of a paste site), blocks
//! the request, which is never forwarded, and is recorded as an
//! exfiltration attempt. The rest of a streamed body is watched by
//! [`Credentials::guard_body`]. A response to a request that carried a
//! secret is redacted (see `credentials/redact.rs`).
//!
//! The placeholder itself is worthless outside the gateway; blocking it is
//! an alarm, not the protection. The protection is that the real secret
//! only ever leaves towards its bound hosts.

mod guard;
mod held_back;
mod inject;
mod record;
mod redact;
mod scan;
mod websocket;

#[cfg(test)]
mod tests;

use std::{fmt, sync::Arc};

use http::request::Parts;

pub use self::{
    record::record_exfiltration, redact::Injected, scan::Place, websocket::redact_frames,
};
use crate::{
    audit::AuditLog,
    intercept::ProxyBody,
    vault::{Placeholder, store::VaultStore},
};

/// The gateway's credentials: the vault, reloaded in the background.
pub struct Credentials {
    vault: Arc<VaultStore>,
    /// Where exfiltration attempts are recorded.
    audit: AuditLog,
}

/// Who sends a request where: what injection depends on.
#[derive(Debug, Clone)]
pub struct Target {
    pub agent: Arc<str>,
    /// Normalised: lowercase, no trailing dot, no brackets.
    pub host: String,
    /// Whether the upstream connection is TLS (secrets never go in clear).
    pub tls: bool,
    pub request_id: String,
}

/// Why a placeholder was blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// No secret has this placeholder for any agent of this gateway.
    Unknown,
    /// The placeholder belongs to another agent.
    OtherAgent(Arc<str>),
    /// The secret is not bound to this host.
    UnboundHost,
    /// Not in the secret's bound position (another header, the body, …).
    UnboundPosition,
    /// The request goes over plain HTTP.
    PlainHttp,
}

/// A blocked placeholder: what the record and the agent's 403 say.
/// Never holds a secret value; the placeholder is fine to show.
#[derive(Debug, Clone)]
pub struct Exfiltration {
    pub agent: Arc<str>,
    /// The secret's name, when the placeholder is known.
    pub secret: Option<String>,
    pub host: String,
    pub place: Place,
    pub reason: Reason,
    pub placeholder: Placeholder,
    pub request_id: String,
}

impl Credentials {
    #[must_use]
    pub fn new(vault: Arc<VaultStore>, audit: AuditLog) -> Self {
        Self { vault, audit }
    }

    /// Whether the vault has any record (else there is nothing to look for).
    #[must_use]
    pub fn active(&self) -> bool {
        !self.vault.is_empty()
    }

    /// Checks every placeholder in the request and swaps the allowed ones
    /// for their secrets. Call it after the policy allowed the request (or
    /// a person approved it), just before forwarding. On `Err` the attempt
    /// has been recorded; the request must not be forwarded (`parts` may
    /// hold a secret by then: drop it).
    pub fn inject(
        &self,
        parts: &mut Parts,
        body_prefix: Option<&[u8]>,
        target: &Target,
    ) -> Result<Injected, Box<Exfiltration>> {
        let vault = self.vault.current();
        if vault.is_empty() {
            return Ok(Injected::none());
        }
        inject::inject(&vault, parts, body_prefix, target)
            .inspect_err(|attempt| record_exfiltration(&self.audit, attempt))
    }

    /// Like [`Credentials::inject`] without changing the request (copies
    /// with secrets in are dropped at once): for a request the policy
    /// refused, so that a placeholder in it is still recorded, and for one
    /// about to be shown to a person for approval.
    pub fn check(
        &self,
        parts: &Parts,
        body_prefix: Option<&[u8]>,
        target: &Target,
    ) -> Result<(), Box<Exfiltration>> {
        let vault = self.vault.current();
        if vault.is_empty() {
            return Ok(());
        }
        let mut copy = parts.clone();
        inject::inject(&vault, &mut copy, body_prefix, target)
            .map(drop)
            .inspect_err(|attempt| record_exfiltration(&self.audit, attempt))
    }

    /// A placeholder sent as a DNS label (the responder serves every agent,
    /// so none is named): recorded with its secret's name when the vault
    /// knows it.
    pub fn record_dns_name(&self, host: &str, placeholder: Placeholder, request_id: String) {
        let secret = self
            .vault
            .current()
            .lookup(&placeholder)
            .map(|usable| usable.secret.name.clone());
        let attempt = Exfiltration {
            agent: "(dns)".into(),
            secret,
            host: host.to_owned(),
            place: Place::DnsName,
            reason: Reason::UnboundPosition,
            placeholder,
            request_id,
        };
        record_exfiltration(&self.audit, &attempt);
    }

    /// The request body, failing (so the upstream request is aborted) if a
    /// placeholder shows up in it; the placeholder itself is held back and
    /// never reaches the upstream whole.
    #[must_use]
    pub fn guard_body(&self, body: ProxyBody, target: Target) -> ProxyBody {
        if self.active() {
            guard::PlaceholderGuard::wrap(body, Arc::clone(&self.vault), self.audit.clone(), target)
        } else {
            body
        }
    }
}

/// Whether an upstream failure is the body guard having stopped a body.
#[must_use]
pub fn stopped_body(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<guard::PlaceholderInBody>() {
            return true;
        }
        cause = e.source();
    }
    false
}

impl Exfiltration {
    /// The text of the agent's 403: names the secret, never its value.
    #[must_use]
    pub fn message(&self) -> String {
        let what = self.secret.as_ref().map_or_else(
            || "a credential placeholder".to_owned(),
            |s| format!("the placeholder of secret {s}"),
        );
        format!(
            "{what} was sent to {} in the {} ({}); the gateway blocked the request and recorded it as an exfiltration attempt",
            self.host, self.place, self.reason
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown => f.write_str("not a placeholder of any secret this agent may use"),
            Self::OtherAgent(owner) => write!(f, "it belongs to agent {owner}"),
            Self::UnboundHost => f.write_str("the secret is not bound to this host"),
            Self::UnboundPosition => f.write_str("not where the secret is bound to go"),
            Self::PlainHttp => f.write_str("secrets are only sent over HTTPS"),
        }
    }
}
