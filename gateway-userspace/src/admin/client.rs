//! The CLI's side of the admin interface: talk to the running gateway
//! over its socket; when no gateway listens there, open the database
//! directly (sled lets one process at a time open it, so this works only
//! while the gateway is stopped) and answer the same way.

use std::{
    io::{BufRead as _, BufReader, Write as _},
    os::unix::net::UnixStream,
    path::Path,
};

use super::{AdminReply, AdminRequest, handle, user_name};
use crate::{
    approvals::{ApprovalSettings, store::ApprovalStore},
    audit::AuditLog,
    state::{self, StateError},
};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("talking to the gateway over {path}: {source}")]
    Socket {
        path: String,
        source: std::io::Error,
    },
    #[error("the gateway's answer: {0}")]
    Protocol(String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("opening the approvals store: {0}")]
    Store(#[from] crate::approvals::store::StoreError),
    #[error("opening the audit log: {0}")]
    Audit(#[from] crate::audit::AuditError),
    #[error("writing the answer: {0}")]
    Output(std::io::Error),
    #[error(
        "no gateway is listening on {socket} and there is no database at {db}: is this the gateway's state directory (--state-dir, --config)?"
    )]
    NoState { socket: String, db: String },
}

/// Sends `request` and returns its one answer (every request but an
/// export has one).
pub fn one_reply(state_dir: &Path, request: &AdminRequest) -> Result<AdminReply, ClientError> {
    let mut answer = None;
    call(state_dir, request, |reply| {
        answer = Some(reply);
        Ok(())
    })?;
    answer.ok_or_else(|| ClientError::Protocol("no answer".to_owned()))
}

/// Sends `request` to the gateway using `state_dir`, passing each reply
/// to `each`; without a gateway, answers it from the database itself.
pub fn call(
    state_dir: &Path,
    request: &AdminRequest,
    mut each: impl FnMut(AdminReply) -> std::io::Result<()>,
) -> Result<(), ClientError> {
    let socket = state::admin_socket_path(state_dir);
    match UnixStream::connect(&socket) {
        Ok(stream) => over_socket(stream, &socket, request, &mut each),
        Err(error)
            if matches!(
                error.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            tracing::debug!(socket = %socket.display(), "no gateway on the admin socket: opening the database");
            let db = state::db_path(state_dir);
            if !db.exists() {
                return Err(ClientError::NoState {
                    socket: socket.display().to_string(),
                    db: db.display().to_string(),
                });
            }
            offline(state_dir, request, &mut each)
        }
        Err(source) => Err(ClientError::Socket {
            path: socket.display().to_string(),
            source,
        }),
    }
}

fn over_socket(
    mut stream: UnixStream,
    socket: &Path,
    request: &AdminRequest,
    each: &mut dyn FnMut(AdminReply) -> std::io::Result<()>,
) -> Result<(), ClientError> {
    let err = |source| ClientError::Socket {
        path: socket.display().to_string(),
        source,
    };
    let mut line = serde_json::to_vec(request).map_err(|e| ClientError::Protocol(e.to_string()))?;
    line.push(b'\n');
    stream.write_all(&line).map_err(err)?;
    let mut reader = BufReader::new(stream);
    let mut text = String::new();
    loop {
        text.clear();
        if reader.read_line(&mut text).map_err(err)? == 0 {
            return Err(ClientError::Protocol(
                "the gateway closed the connection".into(),
            ));
        }
        let reply: AdminReply =
            serde_json::from_str(text.trim()).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let last = !matches!(reply, AdminReply::Record(_));
        each(reply).map_err(ClientError::Output)?;
        if last {
            return Ok(());
        }
    }
}

fn offline(
    state_dir: &Path,
    request: &AdminRequest,
    each: &mut dyn FnMut(AdminReply) -> std::io::Result<()>,
) -> Result<(), ClientError> {
    let db = state::open_db(state_dir)?;
    let audit = AuditLog::open(&db)?;
    // Expiry and the pending cap do not depend on the settings used here:
    // expiry times are stored with each approval.
    let store = ApprovalStore::open(&db, audit.clone(), ApprovalSettings::default())?;
    // SAFETY: getuid has no preconditions and cannot fail.
    let by = user_name(unsafe { libc::getuid() });
    handle(request.clone(), &store, &audit, &by, each).map_err(ClientError::Output)?;
    drop(store);
    audit.sync_blocking();
    db.flush().map_err(|e| ClientError::Store(e.into()))?;
    Ok(())
}
