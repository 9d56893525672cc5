//! `gateway ca init | export`.

use std::{io::Write as _, path::Path, process::ExitCode};

use anyhow::Context as _;

use crate::{cli::CaCommand, privileges, tls::CertificateAuthority};

pub fn run(command: &CaCommand) -> anyhow::Result<ExitCode> {
    match command {
        CaCommand::Init { dir, force } => init(dir, *force),
        CaCommand::Export { dir } => export(dir),
    }
}

fn init(dir: &Path, force: bool) -> anyhow::Result<ExitCode> {
    // The key must belong to root, who runs the gateway that reads it.
    privileges::require_root().map_err(|_| {
        anyhow::anyhow!(
            "`gateway ca init` must run as root: the CA key must be readable by root only, who runs the gateway; try `sudo`"
        )
    })?;
    let ca = CertificateAuthority::init(dir, force)?;
    println!(
        "Created the gateway's certificate authority:\n  certificate  {}\n  key          {} (readable by root only)",
        ca.cert_path().display(),
        ca.key_path().display(),
    );
    if force {
        println!("Agents that trusted an authority this replaced must trust the new one instead.");
    }
    println!(
        "Agents must trust the certificate. `gateway exec` sets that up for its command; for other agents (containers, say) run\n  gateway ca export --dir {} > gateway-ca.pem\nand add gateway-ca.pem to their trust store.",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Prints the certificate; needs no access to the key, only to `ca.pem`.
fn export(dir: &Path) -> anyhow::Result<ExitCode> {
    let pem = CertificateAuthority::read_cert_pem(dir)?;
    // Not `print!`, which panics when the reader has gone (`| head`).
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(pem.as_bytes())
        .and_then(|()| stdout.flush())
        .context("writing the CA certificate to standard output")?;
    Ok(ExitCode::SUCCESS)
}
