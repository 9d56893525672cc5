//! `cargo xtask test`: what CI runs. Build, rustfmt check, clippy, then the
//! whole test suite against the built gateway; the exit code is the tests'.

use std::process::ExitCode;

use anyhow::{Context as _, Result};

use crate::{build, step, workspace};

pub fn run() -> Result<ExitCode> {
    let gateway = build::run()?;
    let root = workspace::root();

    step::run(
        step::command("cargo")
            .args(["fmt", "--all", "--check"])
            .current_dir(root),
        "checking formatting",
        "run `cargo fmt --all` and commit the result",
    )?;
    step::run(
        step::command("cargo")
            .args(["clippy", "--workspace", "--exclude", "gateway-ebpf"])
            .args(["--release", "--all-targets", "--", "-D", "warnings"])
            .current_dir(root),
        "running clippy",
        "fix the warnings above (or, where a lint is wrong, `#[expect(lint, reason = \"…\")]`)",
    )?;
    // The kernel crate only builds for the BPF target, with the nightly.
    step::run(
        step::command("cargo")
            .args([
                "+nightly",
                "clippy",
                "--release",
                "--target",
                "bpfel-unknown-none",
            ])
            .args(["-Z", "build-std=core", "--", "-D", "warnings"])
            .current_dir(root.join("gateway-ebpf")),
        "running clippy on the kernel programs",
        "fix the warnings above (or, where a lint is wrong, `#[expect(lint, reason = \"…\")]`)",
    )?;

    let status = step::status(
        step::command("cargo")
            .args([
                "test",
                "--release",
                "--workspace",
                "--exclude",
                "gateway-ebpf",
                // Every test binary runs, so one failure does not hide others.
                "--no-fail-fast",
            ])
            .args(["--", "--test-threads=2"])
            .env("GATEWAY_BIN", &gateway)
            .env("GATEWAY_REPO", root)
            .current_dir(root),
        "running the tests",
        "make sure cargo is on PATH",
    )?;
    let code = status
        .code()
        .with_context(|| format!("running the tests: cargo test was killed ({status})"))?;
    if code == 0 {
        step::say("tests passed");
    } else {
        step::say(format_args!(
            "tests failed (exit code {code}); see the failures above"
        ));
    }
    // Exit codes above 255 cannot happen on Linux; clamp rather than wrap to 0.
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX)))
}
