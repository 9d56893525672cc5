//! `gateway audit export [--since]`, `gateway audit verify` and
//! `gateway audit prune --before`.

use std::{io::Write as _, process::ExitCode};

use anyhow::{Context as _, bail};

use crate::{
    admin::{AdminReply, AdminRequest, client},
    cli::AuditCommand,
    time_text,
};

pub fn run(command: &AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Export { since, state } => {
            let since_unix_ms = since
                .as_deref()
                .map(time_text::parse)
                .transpose()
                .map_err(anyhow::Error::msg)
                .context("--since")?
                .unwrap_or(0);
            let dir = state.dir()?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut failure = None;
            client::call(
                &dir,
                &AdminRequest::AuditExport { since_unix_ms },
                |reply| {
                    match reply {
                        AdminReply::Record(record) => {
                            serde_json::to_writer(&mut out, &record)?;
                            out.write_all(b"\n")?;
                        }
                        AdminReply::Done => {}
                        AdminReply::Error(message) => failure = Some(message),
                        other => failure = Some(format!("unexpected answer: {other:?}")),
                    }
                    Ok(())
                },
            )
            .with_context(|| format!("state directory {}", dir.display()))?;
            out.flush()?;
            if let Some(message) = failure {
                bail!("{message}");
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify { state } => {
            let dir = state.dir()?;
            let answer = client::one_reply(&dir, &AdminRequest::AuditVerify)
                .with_context(|| format!("state directory {}", dir.display()))?;
            match answer {
                AdminReply::Intact(intact) if intact.pruned == 0 => {
                    println!(
                        "{} records, chain intact (head {})",
                        intact.records, intact.head_hash
                    );
                    Ok(ExitCode::SUCCESS)
                }
                AdminReply::Intact(intact) => {
                    println!(
                        "{} records (seq {} to {}; the {} before were pruned), chain intact (head {})",
                        intact.records - intact.pruned,
                        intact.pruned + 1,
                        intact.records,
                        intact.pruned,
                        intact.head_hash
                    );
                    Ok(ExitCode::SUCCESS)
                }
                AdminReply::Broken(broken) => {
                    eprintln!("gateway: audit log verification failed: {broken}");
                    Ok(ExitCode::from(2))
                }
                AdminReply::Error(message) => bail!("{message}"),
                other => bail!("unexpected answer from the gateway: {other:?}"),
            }
        }
        AuditCommand::Prune { before, state } => {
            let before_unix_ms = time_text::parse(before)
                .map_err(anyhow::Error::msg)
                .context("--before")?;
            let dir = state.dir()?;
            let answer = client::one_reply(&dir, &AdminRequest::AuditPrune { before_unix_ms })
                .with_context(|| format!("state directory {}", dir.display()))?;
            match answer {
                AdminReply::Pruned(Some(pruned)) => println!(
                    "removed {} records (up to seq {}); the chain goes on from hash {}",
                    pruned.records, pruned.checkpoint.seq, pruned.checkpoint.hash
                ),
                AdminReply::Pruned(None) => println!(
                    "nothing to remove: no record is older than {}",
                    time_text::rfc3339(before_unix_ms)
                ),
                AdminReply::Error(message) => bail!("{message}"),
                other => bail!("unexpected answer from the gateway: {other:?}"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
