//! The gateway's own CA, made with `gateway ca init`: what agents trust.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::client::{Run, TimedCommand};

pub struct GatewayCa {
    dir: PathBuf,
}

impl GatewayCa {
    /// Runs `gateway ca init --dir <dir>` and checks that it made ca.pem and ca.key.
    pub fn init(dir: &Path) -> Self {
        let run = ca_command(&["init", "--dir"], dir).expect_success("gateway ca init");
        let ca = Self {
            dir: dir.to_owned(),
        };
        for file in [ca.cert(), ca.key()] {
            assert!(
                file.is_file(),
                "`gateway ca init` did not create {}: {run:#?}",
                file.display()
            );
        }
        ca
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<dir>/ca.pem`: the file agents trust.
    pub fn cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
}

/// `gateway ca ARGS DIR` (e.g. `["init", "--dir"]`).
pub fn ca_command(args: &[&str], dir: &Path) -> Run {
    TimedCommand::new(crate::preflight::require_root_and_gateway())
        .arg("ca")
        .args(args)
        .arg(dir)
        .timeout(Duration::from_secs(20))
        .run()
}
