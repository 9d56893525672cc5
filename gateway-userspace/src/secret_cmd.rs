//! `gateway secret set | list | rm | env`: the vault from the command line.
//! Values come from standard input only and are never printed.

use std::{io::Read as _, path::Path, process::ExitCode};

use anyhow::Context as _;
use zeroize::Zeroizing;

use crate::{
    cli::SecretCommand,
    vault::{
        self, AgentScope, Binding, Entry, KeyError, Position, SealedRecord, SecretValue,
        VaultError, VaultFile, VaultKey, vault_path,
    },
};

pub fn run(command: &SecretCommand) -> anyhow::Result<ExitCode> {
    match command {
        SecretCommand::Set {
            name,
            hosts,
            agents,
            any_agent,
            header,
            query,
            path,
            basic_auth,
            state_dir,
        } => {
            let position = position(
                header.as_deref(),
                query.as_deref(),
                path.as_deref(),
                basic_auth.as_deref(),
            )?;
            let agents = if *any_agent {
                AgentScope::Any
            } else {
                AgentScope::Only(agents.clone())
            };
            let binding = Binding {
                hosts: hosts.clone(),
                position,
                agents,
            };
            set(state_dir, name, binding)
        }
        SecretCommand::List { state_dir } => list(state_dir),
        SecretCommand::Rm { name, state_dir } => rm(state_dir, name),
        SecretCommand::Env { agent, state_dir } => {
            for (name, placeholder) in vault::placeholders_for(state_dir, agent)? {
                println!("{name}={placeholder}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn position(
    header: Option<&str>,
    query: Option<&str>,
    path: Option<&str>,
    basic_auth: Option<&str>,
) -> anyhow::Result<Position> {
    Ok(match (header, query, path, basic_auth) {
        (Some(header), ..) => {
            let (name, format) = header.split_once(':').with_context(|| {
                format!("--header {header:?}: expected `Name: format with {{}}`")
            })?;
            Position::Header {
                name: name.trim().to_owned(),
                format: format.trim().to_owned(),
            }
        }
        (_, Some(key), ..) => Position::Query {
            key: key.to_owned(),
        },
        (_, _, Some(template), _) => Position::Path {
            template: template.to_owned(),
        },
        (.., Some(user)) => Position::BasicAuth {
            user: user.to_owned(),
        },
        _ => anyhow::bail!("say where the secret goes: --header, --query, --path or --basic-auth"),
    })
}

fn set(state_dir: &Path, name: &str, binding: Binding) -> anyhow::Result<ExitCode> {
    vault::validate_name(name)?;
    let binding = binding.validated()?;
    let path = vault_path(state_dir);
    // Read the vault before the secret: a vault that cannot be changed
    // should not make anyone type a secret first.
    let mut file = VaultFile::read(&path)?;
    let key = if file.sealed_key_id().is_some() {
        // Records exist: only their key may be used, never a new one.
        VaultKey::load(state_dir).map_err(|e| match e {
            KeyError::Missing { path } => anyhow::anyhow!(
                "the vault has records but its key is missing ({}); restore the key file or set {} — a new key would make them unreadable",
                path.display(),
                vault::KEY_ENV
            ),
            other => other.into(),
        })?
    } else {
        VaultKey::load_or_create(state_dir)?
    };
    vault::check_key(&file, &key)?;
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprintln!("Type the secret for {name} and press Enter (or pipe it in):");
    }
    let mut input = Zeroizing::new(Vec::new());
    std::io::stdin()
        .read_to_end(&mut input)
        .context("reading the secret from standard input")?;
    let value = SecretValue::from_input(input)?;
    let record = SealedRecord::seal(&key, name, &binding, &value).map_err(VaultError::from)?;
    drop(value);
    let existing = file.entries.iter().position(|e| e.name() == Some(name));
    let verb = if let Some(at) = existing {
        file.entries[at] = Entry::Sealed(record);
        "replaced"
    } else {
        file.entries.push(Entry::Sealed(record));
        "added"
    };
    file.write(&path)?;
    println!("secret {name} {verb}: {binding}");
    Ok(ExitCode::SUCCESS)
}

fn list(state_dir: &Path) -> anyhow::Result<ExitCode> {
    let file = VaultFile::read(&vault_path(state_dir))?;
    if file.entries.is_empty() {
        println!("no secrets in {}", vault_path(state_dir).display());
        return Ok(ExitCode::SUCCESS);
    }
    let key = VaultKey::load(state_dir);
    let mut failed = 0;
    for entry in &file.entries {
        let (name, binding, status) = match (entry, &key) {
            (Entry::Sealed(record), Ok(key)) => {
                let status = match record.open(key) {
                    Ok(_) => "ok".to_owned(),
                    Err(error) => {
                        failed += 1;
                        format!("ERROR: {error}")
                    }
                };
                (record.name.as_str(), record.binding.to_string(), status)
            }
            (Entry::Sealed(record), Err(error)) => {
                failed += 1;
                let status = format!("not checked: {error}");
                (record.name.as_str(), record.binding.to_string(), status)
            }
            (Entry::Unreadable { name, error, .. }, _) => {
                failed += 1;
                let name = name.as_deref().unwrap_or("(unnamed)");
                (
                    name,
                    "-".to_owned(),
                    format!("ERROR: malformed record: {error}"),
                )
            }
        };
        println!("{name}\t{binding}\t{status}");
    }
    if failed > 0 {
        anyhow::bail!("{failed} record(s) of the vault cannot be used (see above)");
    }
    Ok(ExitCode::SUCCESS)
}

fn rm(state_dir: &Path, name: &str) -> anyhow::Result<ExitCode> {
    let path = vault_path(state_dir);
    let mut file = VaultFile::read(&path)?;
    let before = file.entries.len();
    file.entries.retain(|e| e.name() != Some(name));
    if file.entries.len() == before {
        return Err(VaultError::NotFound(name.to_owned()).into());
    }
    file.write(&path)?;
    println!("secret {name} removed");
    Ok(ExitCode::SUCCESS)
}
