//! The Rust toolchains the build needs: the default (stable) one with rustfmt
//! and clippy, and a `nightly` with rust-src, which aya-build uses to build the
//! eBPF crate for `bpfel-unknown-none`.

use std::env;
use std::path::PathBuf;

use anyhow::{Context as _, Result, anyhow};

use crate::step;

/// The toolchain name aya-build asks rustup for.
pub const NIGHTLY: &str = "nightly";

/// `$HOME`, which rustup, cargo and the LLVM prefix live under.
pub fn home_dir() -> Result<PathBuf> {
    env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| anyhow!("HOME is not set; run xtask from a login shell (e.g. `sudo -i`)"))
}

/// Where `cargo install` puts binaries: `$CARGO_HOME/bin`, by default `~/.cargo/bin`.
pub fn cargo_bin_dir() -> Result<PathBuf> {
    let cargo_home = match env::var_os("CARGO_HOME").filter(|home| !home.is_empty()) {
        Some(cargo_home) => PathBuf::from(cargo_home),
        None => home_dir()?.join(".cargo"),
    };
    Ok(cargo_home.join("bin"))
}

/// Makes sure a plain `nightly` toolchain with rust-src is installed, and that
/// the default toolchain has rustfmt and clippy.
pub fn ensure() -> Result<()> {
    step::say("checking the Rust toolchains");
    let list = step::stdout(
        step::command("rustup").args(["toolchain", "list"]),
        "listing rustup toolchains",
        "install rustup (https://rustup.rs) and make sure ~/.cargo/bin is on PATH",
    )?;
    if list.lines().any(is_plain_nightly) {
        step::say("nightly toolchain is installed");
    } else {
        step::run(
            step::command("rustup").args([
                "toolchain",
                "install",
                NIGHTLY,
                "--profile",
                "minimal",
                "--component",
                "rust-src",
            ]),
            "installing the nightly toolchain",
            "install it by hand with `rustup toolchain install nightly` (the rustup \
             download server must be reachable)",
        )?;
    }
    // Both commands are local and take milliseconds when the component is there.
    step::run(
        step::command("rustup").args(["component", "add", "rust-src", "--toolchain", NIGHTLY]),
        "adding rust-src to the nightly (aya-build builds core from it)",
        "run `rustup component add rust-src --toolchain nightly` by hand and read its error",
    )?;
    step::run(
        step::command("rustup").args(["component", "add", "rustfmt", "clippy"]),
        "adding rustfmt and clippy to the default toolchain",
        "run `rustup component add rustfmt clippy` by hand and read its error",
    )?;
    Ok(())
}

/// True for a `rustup toolchain list` line naming the undated nightly channel
/// (`nightly-x86_64-unknown-linux-gnu (…)`), the one `+nightly` selects.
fn is_plain_nightly(line: &str) -> bool {
    let name = line.split_whitespace().next().unwrap_or_default();
    name.strip_prefix("nightly-")
        .and_then(|rest| rest.chars().next())
        .is_some_and(|first| !first.is_ascii_digit())
}

/// The nightly's `rustc -vV` report.
pub struct NightlyRustc {
    /// `release:`, e.g. `1.97.0-nightly`.
    pub release: String,
    /// `commit-date:`, e.g. `2026-05-19`.
    pub commit_date: String,
    /// `LLVM version:`, e.g. `22.1.4`.
    pub llvm_version: String,
}

impl NightlyRustc {
    pub fn query() -> Result<Self> {
        let report = step::stdout(
            step::command("rustc").args(["+nightly", "-vV"]),
            "asking the nightly rustc for its versions",
            "run `cargo xtask setup` (it installs the nightly) or `rustup toolchain install nightly`",
        )?;
        Self::parse(&report).context("reading the output of `rustc +nightly -vV`")
    }

    fn parse(report: &str) -> Result<Self> {
        let field = |name: &str| {
            report
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
                .ok_or_else(|| anyhow!("no `{name}:` line in:\n{report}"))
        };
        Ok(Self {
            release: field("release")?,
            commit_date: field("commit-date")?,
            llvm_version: field("LLVM version")?,
        })
    }

    /// The LLVM major version, e.g. `22`.
    pub fn llvm_major(&self) -> Result<u32> {
        let major = self.llvm_version.split('.').next().unwrap_or_default();
        major.parse().with_context(|| {
            format!(
                "LLVM version {:?} does not start with a major number",
                self.llvm_version
            )
        })
    }

    /// Names this nightly, e.g. `1.97.0-nightly-2026-05-19`.
    pub fn version_string(&self) -> String {
        format!("{}-{}", self.release, self.commit_date)
    }
}

/// The nightly's sysroot (`rustc +nightly --print sysroot`).
pub fn nightly_sysroot() -> Result<PathBuf> {
    let sysroot = step::stdout(
        step::command("rustc").args(["+nightly", "--print", "sysroot"]),
        "asking the nightly rustc for its sysroot",
        "run `rustup toolchain install nightly`",
    )?;
    Ok(PathBuf::from(sysroot.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_undated_nightly_only() {
        assert!(is_plain_nightly("nightly-x86_64-unknown-linux-gnu"));
        assert!(is_plain_nightly(
            "nightly-x86_64-unknown-linux-gnu (active)"
        ));
        assert!(!is_plain_nightly(
            "nightly-2026-05-19-x86_64-unknown-linux-gnu"
        ));
        assert!(!is_plain_nightly(
            "stable-x86_64-unknown-linux-gnu (default)"
        ));
        assert!(!is_plain_nightly(""));
    }

    #[test]
    fn parses_rustc_version_report() {
        let report = "rustc 1.97.0-nightly (e50aa6fba 2026-05-19)\nbinary: rustc\n\
                      commit-hash: e50aa6fba4e63ab34c72bf9acfd2c307c1155d1a\n\
                      commit-date: 2026-05-19\nhost: x86_64-unknown-linux-gnu\n\
                      release: 1.97.0-nightly\nLLVM version: 22.1.4\n";
        let rustc = NightlyRustc::parse(report).unwrap();
        assert_eq!(rustc.llvm_version, "22.1.4");
        assert_eq!(rustc.llvm_major().unwrap(), 22);
        assert_eq!(rustc.version_string(), "1.97.0-nightly-2026-05-19");
    }

    #[test]
    fn report_without_llvm_version_is_an_error() {
        let error = NightlyRustc::parse("release: 1.97.0-nightly\ncommit-date: 2026-05-19\n")
            .err()
            .unwrap();
        assert!(error.to_string().contains("LLVM version"), "{error}");
    }
}
