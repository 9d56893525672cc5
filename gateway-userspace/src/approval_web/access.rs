//! Who may use the page. Three checks, each against a different attack:
//!
//! - the `Host` header must name the page's own loopback origin, so a web
//!   site that rebinds its DNS name to 127.0.0.1 gets nothing;
//! - every request but the token link carries the session cookie
//!   (`HttpOnly`, `SameSite=Strict`), set from the token in that link;
//! - a decision (POST) also carries `X-Gateway-Csrf`, a value derived
//!   from the token that only the page itself is given, and an `Origin`,
//!   when present, of the page's own origin.

use http::{HeaderMap, header};

use super::token::{WebToken, constant_time_eq};

pub const CSRF_HEADER: &str = "x-gateway-csrf";

/// Why a request was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `Host` is not `127.0.0.1:PORT` or `localhost:PORT`.
    WrongHost,
    /// No valid session cookie.
    NoSession,
    /// A decision without the CSRF header, or from another origin.
    CrossSite,
}

/// The checks, for one running page.
pub struct Gate {
    token: WebToken,
    csrf: String,
    port: u16,
}

impl Gate {
    #[must_use]
    pub fn new(token: WebToken, port: u16) -> Self {
        Self {
            csrf: token.csrf(),
            token,
            port,
        }
    }

    /// The value the page must send back with decisions.
    #[must_use]
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Cookies are per host, not per port: the port in the name keeps two
    /// gateways on one machine apart.
    fn cookie_name(&self) -> String {
        format!("gateway_approvals_{}", self.port)
    }

    /// The `Set-Cookie` value that opens a session.
    #[must_use]
    pub fn session_cookie(&self) -> String {
        format!(
            "{}={}; Path=/; HttpOnly; SameSite=Strict",
            self.cookie_name(),
            self.token.as_str()
        )
    }

    #[must_use]
    pub fn token_matches(&self, candidate: &str) -> bool {
        self.token.matches(candidate)
    }

    pub fn check_host(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .ok_or(Refusal::WrongHost)?;
        if self.is_own_authority(host) {
            Ok(())
        } else {
            Err(Refusal::WrongHost)
        }
    }

    pub fn check_session(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let name = self.cookie_name();
        let found = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(n, value)| n == name && self.token.matches(value));
        if found {
            Ok(())
        } else {
            Err(Refusal::NoSession)
        }
    }

    /// For requests that change something.
    pub fn check_same_origin(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let csrf = headers
            .get(CSRF_HEADER)
            .map(http::HeaderValue::as_bytes)
            .ok_or(Refusal::CrossSite)?;
        if !constant_time_eq(csrf, self.csrf.as_bytes()) {
            return Err(Refusal::CrossSite);
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().map_err(|_| Refusal::CrossSite)?;
            let authority = origin.strip_prefix("http://").ok_or(Refusal::CrossSite)?;
            if !self.is_own_authority(authority) {
                return Err(Refusal::CrossSite);
            }
        }
        Ok(())
    }

    fn is_own_authority(&self, authority: &str) -> bool {
        let Some((host, port)) = authority.rsplit_once(':') else {
            return false;
        };
        port.parse() == Ok(self.port)
            && (host == "127.0.0.1" || host.eq_ignore_ascii_case("localhost"))
    }
}
