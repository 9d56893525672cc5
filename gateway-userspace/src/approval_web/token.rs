//! The web page's access token: 32 random bytes, hex, in a root-only file
//! of the state directory. Whoever can read the file can open the page;
//! the page itself only ever sees the token in its cookie.

use std::{
    fs,
    io::{ErrorKind, Write as _},
    os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
};

use ring::rand::{SecureRandom as _, SystemRandom};
use sha2::{Digest as _, Sha256};

/// The file name of the token in the state directory.
pub const TOKEN_FILE: &str = "web.token";
const TOKEN_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{action} web token {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("web token {path} is not {} hex digits; delete it to make a new one", TOKEN_BYTES * 2)]
    Malformed { path: PathBuf },
    #[error("no randomness for the web token")]
    Random,
}

/// The secret that opens the web page.
#[derive(Clone)]
pub struct WebToken(String);

impl std::fmt::Debug for WebToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebToken(…)")
    }
}

impl WebToken {
    /// Reads the token, making it (mode 0600, directory 0700) if missing.
    pub fn load_or_create(path: &Path) -> Result<Self, TokenError> {
        match Self::load(path) {
            Err(TokenError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                Self::create(path)
            }
            other => other,
        }
    }

    /// Reads an existing token (for `gateway approvals web-url`).
    pub fn load(path: &Path) -> Result<Self, TokenError> {
        let io = |action| io_error(action, path);
        let text = fs::read_to_string(path).map_err(io("reading"))?;
        let token = text.trim();
        if token.len() != TOKEN_BYTES * 2 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TokenError::Malformed {
                path: path.to_owned(),
            });
        }
        // Readable by others, it would open the page to them.
        let mode = fs::metadata(path)
            .map_err(io("reading"))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "web token readable by others; making it 0600");
            fs::set_permissions(path, fs::Permissions::from_mode(0o600))
                .map_err(io("restricting"))?;
        }
        Ok(Self(token.to_ascii_lowercase()))
    }

    fn create(path: &Path) -> Result<Self, TokenError> {
        let io = |action| io_error(action, path);
        if let Some(dir) = path.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io("making the directory of"))?;
        }
        let mut bytes = [0u8; TOKEN_BYTES];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| TokenError::Random)?;
        let token = crate::hex::encode(&bytes);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io("creating"))?;
        writeln!(file, "{token}").map_err(io("writing"))?;
        tracing::info!(path = %path.display(), "web token created");
        Ok(Self(token))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is the token, in time independent of where
    /// they differ.
    #[must_use]
    pub fn matches(&self, candidate: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), candidate.as_bytes())
    }

    /// The value a state-changing request must carry in `X-Gateway-Csrf`:
    /// derived from the token, so it needs no storage, and useless without
    /// the cookie.
    #[must_use]
    pub fn csrf(&self) -> String {
        let mut digest = Sha256::new();
        digest.update(b"gateway approvals web csrf\0");
        digest.update(self.0.as_bytes());
        crate::hex::encode(&digest.finalize())
    }
}

/// The error of `action` on `path`, for `map_err`.
fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl Fn(std::io::Error) -> TokenError + 'a {
    move |source| TokenError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Equal slices, comparing every byte whatever the first difference.
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // The length is not secret (always 64 for a real token).
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
