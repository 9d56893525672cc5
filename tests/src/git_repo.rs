//! A bare git repository prepared for the "dumb HTTP" protocol (`git
//! update-server-info`), so that a static file server (the HTTPS upstream's
//! `serve_dir`) is enough for `git clone https://…/repo.git`.

use std::path::{Path, PathBuf};

use crate::client::TimedCommand;
use crate::tempdir::TempDir;

/// The content of the one file in the repository, which a clone must have.
pub const README_TEXT: &str = "cloned through the gateway\n";

pub struct GitRepo {
    bare: PathBuf,
    _dir: TempDir,
}

impl GitRepo {
    /// `<tmp>/repo.git` with one commit on `main` holding `README` = [`README_TEXT`].
    pub fn new(tag: &str) -> Self {
        let dir = TempDir::new(tag);
        let work = dir.path().join("work");
        let bare = dir.path().join("repo.git");
        std::fs::create_dir(&work).expect("creating the work tree");
        std::fs::write(work.join("README"), README_TEXT).expect("writing README");
        git(
            dir.path(),
            &["init", "-q", "--bare", "-b", "main", "repo.git"],
        );
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["add", "README"]);
        git(
            &work,
            &[
                "-c",
                "user.name=gateway tests",
                "-c",
                "user.email=tests@test.example",
                "commit",
                "-q",
                "-m",
                "first",
            ],
        );
        git(&work, &["push", "-q", &bare.to_string_lossy(), "main"]);
        git(&bare, &["update-server-info"]);
        Self { bare, _dir: dir }
    }

    /// The bare repository's directory (serve it at `/repo.git`).
    pub fn bare(&self) -> &Path {
        &self.bare
    }
}

fn git(dir: &Path, args: &[&str]) {
    let _ = TimedCommand::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .run()
        .expect_success("preparing the test git repository");
}
