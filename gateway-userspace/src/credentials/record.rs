//! The one place an exfiltration attempt is recorded. For now a warning
//! in the gateway's log with fields (`event = "exfiltration_blocked"`);
//! the audit log hooks in here. Never a secret value: the placeholder, the
//! secret's name, where it was found.

use super::Exfiltration;

pub fn record_exfiltration(attempt: &Exfiltration) {
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
}
