//! Running the external programs the tasks are made of.
//!
//! Each program is announced before it runs, and a failure names the step and
//! says how to fix it. Children get a `PATH` that also holds cargo's bin
//! directory and the sbin directories, so a fresh root shell (or CI) finds
//! `bpf-linker`, `nft` and `ip` without any set-up of its own.

use std::env;
use std::ffi::{OsStr, OsString};
use std::fmt::Display;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;

use anyhow::{Context as _, Result, bail};

use crate::toolchain;

/// Directories that root's tools live in; some CI shells leave them out.
const SBIN_DIRS: [&str; 3] = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/// Prints what xtask is doing now.
pub fn say(message: impl Display) {
    eprintln!("xtask: {message}");
}

/// A command for `program` with the child `PATH` set.
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(program);
    command.env("PATH", child_path());
    command
}

/// The `PATH` given to children: ours, with cargo's bin directory in front and
/// the sbin directories at the end when they are missing.
pub fn child_path() -> &'static OsStr {
    static PATH: OnceLock<OsString> = OnceLock::new();
    PATH.get_or_init(|| {
        let current = env::var_os("PATH").unwrap_or_default();
        let mut dirs: Vec<PathBuf> = env::split_paths(&current).collect();
        if let Ok(cargo_bin) = toolchain::cargo_bin_dir()
            && !dirs.contains(&cargo_bin)
        {
            dirs.insert(0, cargo_bin);
        }
        for sbin in SBIN_DIRS.map(PathBuf::from) {
            if !dirs.contains(&sbin) {
                dirs.push(sbin);
            }
        }
        // Joining only fails on a directory that contains ':', which the
        // split above cannot have produced; fall back to the unchanged PATH.
        env::join_paths(dirs).unwrap_or(current)
    })
}

/// Finds `program` in the child `PATH`, like the shell's `command -v`.
pub fn find_program(program: &str) -> Option<PathBuf> {
    env::split_paths(child_path())
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The command line, for messages.
pub fn describe(command: &Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// Runs `command` with inherited output; fails unless it exits 0.
///
/// `step` says what the command is for, `fix` what to do when it fails.
pub fn run(command: &mut Command, step: &str, fix: &str) -> Result<()> {
    let status = status(command, step, fix)?;
    check(status, command, step, fix)
}

/// Runs `command` with inherited output and returns how it ended.
pub fn status(command: &mut Command, step: &str, fix: &str) -> Result<ExitStatus> {
    say(format_args!("{step}: {}", describe(command)));
    command
        .status()
        .with_context(|| start_failure(command, step, fix))
}

/// Runs `command` quietly and returns its standard output; fails unless it exits 0.
pub fn stdout(command: &mut Command, step: &str, fix: &str) -> Result<String> {
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| start_failure(command, step, fix))?;
    check(output.status, command, step, fix)?;
    String::from_utf8(output.stdout)
        .with_context(|| format!("{step}: `{}` printed non-UTF-8 output", describe(command)))
}

fn check(status: ExitStatus, command: &Command, step: &str, fix: &str) -> Result<()> {
    if status.success() {
        return Ok(());
    }
    bail!(
        "{step} failed: `{}` ended with {status}\nhow to fix: {fix}",
        describe(command)
    )
}

fn start_failure(command: &Command, step: &str, fix: &str) -> String {
    format!(
        "{step} failed: could not start `{}`\nhow to fix: {fix}",
        describe(command)
    )
}
