//! A secret value in memory: zeroized when dropped, never printed.

use std::fmt;

use zeroize::Zeroizing;

use super::VaultError;

/// Longest secret accepted: API keys and tokens are far shorter.
const MAX_LEN: usize = 8 * 1024;
/// Shortest: responses are redacted by searching for the secret, and a
/// very short one would match ordinary text.
const MIN_LEN: usize = 8;

/// The bytes of a secret. `Debug` and `Display` print `[redacted]`, and
/// the buffer is overwritten with zeros when dropped.
#[derive(Clone)]
pub struct SecretValue(Zeroizing<Vec<u8>>);

impl SecretValue {
    /// A secret as typed or piped in: one trailing newline is dropped;
    /// it must be printable ASCII (space to `~`), so that it fits a header,
    /// and between 8 bytes and 8 KiB.
    pub fn from_input(mut bytes: Zeroizing<Vec<u8>>) -> Result<Self, VaultError> {
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
        if bytes.len() < MIN_LEN {
            return Err(VaultError::Invalid(format!(
                "the secret read from standard input is shorter than {MIN_LEN} bytes"
            )));
        }
        if bytes.len() > MAX_LEN {
            return Err(VaultError::Invalid(format!(
                "the secret is longer than {MAX_LEN} bytes"
            )));
        }
        if !bytes.iter().all(|b| (b' '..=b'~').contains(b)) {
            return Err(VaultError::Invalid(
                "the secret must be printable ASCII on one line (no control characters, no other encodings)".into(),
            ));
        }
        Ok(Self(bytes))
    }

    /// Bytes that passed [`SecretValue::from_input`] before (opened from
    /// the vault, whose records are authenticated).
    #[must_use]
    pub fn from_sealed(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }

    #[must_use]
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret as text (it is ASCII, checked when it was set).
    #[must_use]
    pub fn expose_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}
