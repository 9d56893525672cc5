//! `gateway approvals list | show ID | approve ID | deny ID`: through the
//! running gateway's admin socket, or the database when none runs.

use std::{io::Write as _, process::ExitCode};

use anyhow::{Context as _, bail};

use crate::{
    admin::{AdminReply, AdminRequest, client},
    approvals::desk::ApprovalView,
    cli::ApprovalsCommand,
    time_text::rfc3339,
};

pub fn run(command: &ApprovalsCommand) -> anyhow::Result<ExitCode> {
    let (state, request) = match command {
        ApprovalsCommand::WebUrl {
            config,
            state_dir,
            port,
        } => return crate::approval_web_cmd::web_url(config.as_deref(), state_dir.clone(), *port),
        ApprovalsCommand::List { all, state } => (state, AdminRequest::List { pending_only: !all }),
        ApprovalsCommand::Show { id, state } => (state, AdminRequest::Show { id: id.clone() }),
        ApprovalsCommand::Approve { id, reason, state } => (
            state,
            AdminRequest::Approve {
                id: id.clone(),
                reason: reason.clone(),
            },
        ),
        ApprovalsCommand::Deny { id, reason, state } => (
            state,
            AdminRequest::Deny {
                id: id.clone(),
                reason: reason.clone(),
            },
        ),
    };
    let dir = state.dir()?;
    let reply = client::one_reply(&dir, &request)
        .with_context(|| format!("state directory {}", dir.display()))?;
    let mut out = std::io::stdout().lock();
    match (&request, reply) {
        (AdminRequest::List { .. }, AdminReply::Approvals(list)) => print_list(&mut out, &list)?,
        (AdminRequest::Show { .. }, AdminReply::Approval(view)) => print_request(&mut out, &view)?,
        (AdminRequest::Approve { .. } | AdminRequest::Deny { .. }, AdminReply::Approval(view)) => {
            writeln!(
                out,
                "{} {}: {} {} {} (by {} via {})",
                view.id,
                status_word(&view),
                view.method,
                view.host,
                view.path_and_query,
                view.decided_by.as_deref().unwrap_or("?"),
                view.decided_via.as_deref().unwrap_or("?")
            )?;
        }
        (_, AdminReply::Error(message)) => bail!("{message}"),
        (_, other) => bail!("unexpected answer from the gateway: {other:?}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn status_word(view: &ApprovalView) -> String {
    serde_json::to_value(view.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn print_list(out: &mut impl std::io::Write, list: &[ApprovalView]) -> std::io::Result<()> {
    if list.is_empty() {
        return writeln!(out, "no approvals");
    }
    writeln!(
        out,
        "{:<16}  {:<8}  {:<24}  {:<12}  REQUEST",
        "ID", "STATUS", "CREATED", "AGENT"
    )?;
    for view in list {
        writeln!(
            out,
            "{:<16}  {:<8}  {:<24}  {:<12}  {} {}://{}{} ({} bytes, rule {})",
            view.id,
            status_word(view),
            rfc3339(view.created_unix_ms),
            view.agent,
            view.method,
            view.scheme,
            authority(view),
            view.path_and_query,
            view.body_len,
            view.rule
        )?;
    }
    Ok(())
}

fn authority(view: &ApprovalView) -> String {
    let host = if view.host.contains(':') {
        format!("[{}]", view.host)
    } else {
        view.host.clone()
    };
    let default = if view.scheme == "https" { 443 } else { 80 };
    if view.port == default {
        host
    } else {
        format!("{host}:{}", view.port)
    }
}

/// The request as it would be sent, then what the approval is.
fn print_request(out: &mut impl std::io::Write, view: &ApprovalView) -> std::io::Result<()> {
    writeln!(out, "{} {} HTTP/1.1", view.method, view.path_and_query)?;
    if !view
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        writeln!(out, "host: {}", authority(view))?;
    }
    for (name, value) in &view.headers {
        writeln!(out, "{name}: {value}")?;
    }
    writeln!(out)?;
    if !view.body_preview.is_empty() {
        writeln!(out, "{}", view.body_preview)?;
        if view.body_preview.ends_with('…') {
            writeln!(out, "[preview: the body is {} bytes]", view.body_len)?;
        }
    }
    writeln!(out)?;
    writeln!(out, "approval:  {}", view.id)?;
    writeln!(out, "status:    {}", status_word(view))?;
    writeln!(out, "agent:     {}", view.agent)?;
    writeln!(out, "upstream:  {}://{}", view.scheme, authority(view))?;
    writeln!(out, "rule:      {} ({})", view.rule, view.reason)?;
    writeln!(
        out,
        "body:      {} bytes, sha256 {}",
        view.body_len, view.body_sha256
    )?;
    writeln!(out, "created:   {}", rfc3339(view.created_unix_ms))?;
    writeln!(out, "expires:   {}", rfc3339(view.expires_unix_ms))?;
    if let Some(by) = &view.decided_by {
        write!(
            out,
            "decided:   by {by} via {}",
            view.decided_via.as_deref().unwrap_or("?")
        )?;
        match &view.decision_reason {
            Some(reason) => writeln!(out, ": {reason}")?,
            None => writeln!(out)?,
        }
    }
    Ok(())
}
