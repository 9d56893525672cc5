//! The one place an exfiltration attempt is recorded: in the audit log
//! (`exfiltration_blocked`) and as a warning in the gateway's log. Never a
//! secret value: the placeholder, the secret's name, where it was found.

use super::Exfiltration;
use crate::audit::{AuditEvent, AuditKind, AuditLog};

pub fn record_exfiltration(audit: &AuditLog, attempt: &Exfiltration) {
    tracing::warn!(
        event = "exfiltration_blocked",
        agent = %attempt.agent,
        secret = attempt.secret.as_deref().unwrap_or("-"),
        host = %attempt.host,
        place = %attempt.place,
        reason = %attempt.reason,
        placeholder = %attempt.placeholder,
        request_id = %attempt.request_id,
        "credential exfiltration blocked"
    );
    let mut event = AuditEvent::new(AuditKind::ExfiltrationBlocked);
    event.agent = Some(attempt.agent.to_string());
    event.host = Some(attempt.host.clone());
    event.secret = Some(attempt.secret.as_deref().unwrap_or("-").to_owned());
    event.position = Some(format!("{} ({})", attempt.place, attempt.reason));
    event.request_id = Some(attempt.request_id.clone());
    audit.record(event);
}
