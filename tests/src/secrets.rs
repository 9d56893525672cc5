//! The credentials vault from the tests' side: `gateway secret …` with a
//! state directory of the test's own, and the scan that no file a test
//! wrote holds a real secret.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::client::{Run, TimedCommand};

/// `gateway secret` against one state directory.
pub struct SecretCli {
    pub state_dir: PathBuf,
    /// `GATEWAY_VAULT_KEY` for every command, when set.
    pub key_env: Option<String>,
}

impl SecretCli {
    pub fn new(state_dir: &Path) -> Self {
        Self {
            state_dir: state_dir.to_owned(),
            key_env: None,
        }
    }

    /// `gateway secret <args…> --state-dir DIR` (not run yet).
    pub fn command(&self, args: &[&str]) -> TimedCommand {
        let mut cmd = TimedCommand::new(crate::preflight::require_root_and_gateway())
            .arg("secret")
            .args(args)
            .arg("--state-dir")
            .arg(&self.state_dir);
        if let Some(key) = &self.key_env {
            cmd = cmd.env("GATEWAY_VAULT_KEY", key);
        }
        cmd
    }

    /// `gateway secret set NAME <binding…>` with `value` on standard input.
    pub fn set_run(&self, name: &str, binding: &[&str], value: &str) -> Run {
        let mut args = vec!["set", name];
        args.extend_from_slice(binding);
        self.command(&args).stdin(format!("{value}\n")).run()
    }

    /// Like [`SecretCli::set_run`], asserting success.
    pub fn set(&self, name: &str, binding: &[&str], value: &str) -> Run {
        self.set_run(name, binding, value)
            .expect_success(&format!("gateway secret set {name}"))
    }

    pub fn list(&self) -> Run {
        self.command(&["list"]).run()
    }

    pub fn rm(&self, name: &str) -> Run {
        self.command(&["rm", name]).run()
    }

    /// `gateway secret env --agent AGENT`, parsed: name → placeholder.
    pub fn placeholders(&self, agent: &str) -> BTreeMap<String, String> {
        let run = self
            .command(&["env", "--agent", agent])
            .run()
            .expect_success("gateway secret env");
        run.stdout
            .lines()
            .filter(|l| !l.is_empty())
            .map(|line| {
                let (name, value) = line
                    .split_once('=')
                    .unwrap_or_else(|| panic!("env file line {line:?} is not NAME=VALUE"));
                (name.to_owned(), value.to_owned())
            })
            .collect()
    }

    /// The placeholder `agent` holds for secret `name`.
    pub fn placeholder(&self, agent: &str, name: &str) -> String {
        self.placeholders(agent)
            .remove(name)
            .unwrap_or_else(|| panic!("no placeholder of {name} for agent {agent}"))
    }

    pub fn vault_file(&self) -> PathBuf {
        self.state_dir.join("vault.json")
    }
}

/// The forms of `secret` a leak could take: as is, percent-encoded, and
/// base64 and base64url at each of the three alignments (so it is also
/// found inside a longer base64 text, such as Basic auth).
pub fn secret_forms(secret: &str) -> Vec<Vec<u8>> {
    let mut forms = vec![secret.as_bytes().to_vec()];
    let encoded: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    forms.push(encoded.into_bytes());
    for shift in 0..3 {
        let mut bytes = vec![b'x'; shift];
        bytes.extend_from_slice(secret.as_bytes());
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        // Skip the groups that hold padding bytes or may hold what follows.
        let start = if shift == 0 { 0 } else { 4 };
        let end = b64.len().saturating_sub(4);
        if end > start + 8 {
            forms.push(b64.as_bytes()[start..end].to_vec());
            // base64url (JWTs, Gmail's `raw`) differs only in `+/`.
            let url = b64.replace('+', "-").replace('/', "_");
            if url != b64 {
                forms.push(url.as_bytes()[start..end].to_vec());
            }
        }
    }
    forms
}

/// Panics if any file below `paths` (files or directories, recursively)
/// holds `secret` in any of its [`secret_forms`], and if a path is missing
/// or no file was read at all. Returns how many files it read, for callers
/// that expect a certain few.
pub fn assert_no_secret_in(paths: &[&Path], secret: &str) -> usize {
    let forms = secret_forms(secret);
    let mut files = 0;
    // A path that is not there would make the scan pass by reading nothing.
    for path in paths {
        assert!(path.exists(), "nothing to scan at {}", path.display());
    }
    let mut stack: Vec<PathBuf> = paths.iter().map(|p| p.to_path_buf()).collect();
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            let entries = std::fs::read_dir(&path)
                .unwrap_or_else(|e| panic!("listing {}: {e}", path.display()));
            stack.extend(entries.filter_map(Result::ok).map(|e| e.path()));
        } else if meta.is_file() {
            let bytes =
                std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            files += 1;
            assert!(
                !contains_any(&bytes, &forms),
                "{} holds the real secret (or an encoding of it)",
                path.display()
            );
        }
    }
    assert!(files > 0, "the scan of {paths:?} read no file");
    files
}

/// Panics if `text` (a log, a client's output) holds `secret` in any form.
pub fn assert_no_secret_in_text(what: &str, text: &str, secret: &str) {
    assert!(
        !contains_any(text.as_bytes(), &secret_forms(secret)),
        "{what} holds the real secret (or an encoding of it):\n{text}"
    );
}

fn contains_any(haystack: &[u8], needles: &[Vec<u8>]) -> bool {
    needles
        .iter()
        .any(|n| haystack.windows(n.len()).any(|w| w == n.as_slice()))
}
