//! bpf-linker, the linker aya-build uses for the eBPF crate, built against the
//! nightly's own LLVM (see `llvm_prefix`).

use anyhow::{Result, bail};

use crate::llvm_prefix::LlvmPrefix;
use crate::step;

/// The bpf-linker releases whose `llvm-<major>` features we know (0.13: LLVM 21, 22, 23).
/// When the nightly moves to an LLVM that 0.13 lacks, raise this.
const VERSION: &str = "^0.13";

/// Installs bpf-linker unless one is installed and runs.
pub fn ensure(prefix: &LlvmPrefix) -> Result<()> {
    if let Some(version) = working_version() {
        step::say(format_args!("{version} is installed and runs"));
        return Ok(());
    }
    let feature = format!("llvm-{}", prefix.llvm_major);
    step::say(format_args!(
        "bpf-linker is missing or does not run; building it against LLVM {} (takes a few minutes)",
        prefix.llvm_major
    ));
    step::run(
        step::command("cargo")
            .args([
                "install",
                "bpf-linker",
                "--version",
                VERSION,
                "--locked",
                "--force",
            ])
            .args(["--no-default-features", "--features", &feature])
            .env("LLVM_PREFIX", &prefix.dir),
        "installing bpf-linker",
        &format!(
            "read the cargo error above. If it says the feature `{feature}` does not exist, the \
             nightly's LLVM is newer than bpf-linker {VERSION} supports: raise VERSION in \
             xtask/src/bpf_linker.rs. If linking failed, check that {} has bin/llvm-config and \
             lib/libLLVM.so (remove the directory and rerun `cargo xtask setup`)",
            prefix.dir.display()
        ),
    )?;
    match working_version() {
        Some(version) => {
            step::say(format_args!("{version} installed"));
            Ok(())
        }
        None => bail!(
            "installing bpf-linker: the new binary does not run (`bpf-linker --version` fails); \
             its RUNPATH points to {}/lib, which must hold libLLVM: remove {} and rerun \
             `cargo xtask setup`",
            prefix.dir.display(),
            prefix.dir.display()
        ),
    }
}

/// `bpf-linker --version`, when bpf-linker is on the child PATH and starts
/// (it does not when the libLLVM it was linked against is gone).
fn working_version() -> Option<String> {
    let output = step::command("bpf-linker")
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
