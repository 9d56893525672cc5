//! Placeholders: what an agent holds instead of a secret. `gwph-` and 32
//! lowercase hex digits of HMAC-SHA256(placeholder key, agent, secret):
//! unique per agent and secret, unguessable without the vault key, the
//! same after a restart, and valid in a header, a URL and a DNS label.

use std::fmt;

use ring::hmac;

use super::VaultKey;
use crate::hex;

pub const PREFIX: &str = "gwph-";
/// `gwph-` and 32 hex digits.
pub const LEN: usize = PREFIX.len() + 32;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Placeholder(String);

impl Placeholder {
    #[must_use]
    pub fn derive(key: &VaultKey, agent: &str, secret: &str) -> Self {
        let mut context = hmac::Context::with_key(key.placeholder_key());
        // Lengths first: ("ab", "c") and ("a", "bc") differ.
        for part in [agent, secret] {
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part.as_bytes());
        }
        let tag = context.sign();
        Self(format!("{PREFIX}{}", hex::encode(&tag.as_ref()[..16])))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Every placeholder-shaped token in `haystack` (`gwph-` then 32 hex
    /// digits of either case), with its offset, lowercased.
    #[must_use]
    pub fn find_all(haystack: &[u8]) -> Vec<(usize, Self)> {
        memchr::memmem::find_iter(haystack, PREFIX.as_bytes())
            .filter_map(|at| {
                let token = haystack.get(at..at + LEN)?;
                token[PREFIX.len()..]
                    .iter()
                    .all(u8::is_ascii_hexdigit)
                    .then(|| {
                        let text = String::from_utf8_lossy(token).to_ascii_lowercase();
                        (at, Self(text))
                    })
            })
            .collect()
    }
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Placeholder({})", self.0)
    }
}
