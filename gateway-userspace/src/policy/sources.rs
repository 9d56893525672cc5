//! The files a policy was read from, by content, so that hot reload
//! notices a change to the policy file or to any pack it uses.
//!
//! Content rather than modification time: an editor can write twice in
//! the same clock tick, and a restored backup has an old time.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// A file as it was when read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    /// Not read yet: differs from anything on disk.
    Unread,
    /// Absent or unreadable.
    Missing,
    Content([u8; 32]),
}

impl FileState {
    #[must_use]
    pub fn of(bytes: &[u8]) -> Self {
        Self::Content(Sha256::digest(bytes).into())
    }

    /// The file's state now.
    #[must_use]
    pub fn read(path: &Path) -> Self {
        std::fs::read(path).map_or(Self::Missing, |bytes| Self::of(&bytes))
    }
}

/// Every file a load looked at, including pack files it did not find.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources(Vec<(PathBuf, FileState)>);

impl Sources {
    pub fn record(&mut self, path: &Path, state: FileState) {
        if !self.0.iter().any(|(p, _)| p == path) {
            self.0.push((path.to_owned(), state));
        }
    }

    /// The file the load started from.
    #[must_use]
    pub fn main(&self) -> Option<&Path> {
        self.0.first().map(|(p, _)| p.as_path())
    }

    /// Whether any file differs from what was read.
    #[must_use]
    pub fn changed_on_disk(&self) -> bool {
        self.0
            .iter()
            .any(|(path, state)| FileState::read(path) != *state)
    }
}
