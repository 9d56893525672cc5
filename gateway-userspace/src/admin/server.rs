//! The admin socket's server: accepts root only (checked with
//! `SO_PEERCRED`, besides the socket's 0600 mode in a 0700 directory),
//! and answers each request line off the async threads.

use std::{
    os::unix::fs::{FileTypeExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    sync::Arc,
};

use tokio::{
    io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader},
    net::{UnixListener, UnixStream},
    sync::mpsc,
};

use super::{AdminReply, AdminRequest, handle, user_name};
use crate::{approvals::store::ApprovalStore, audit::AuditLog};

/// The longest request line accepted.
const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("admin socket {path}: {source}")]
    Socket {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Binds the socket (replacing a stale one) and serves it until the task
/// is aborted.
pub fn serve(
    path: &Path,
    store: Arc<ApprovalStore>,
    audit: AuditLog,
) -> Result<tokio::task::JoinHandle<()>, AdminError> {
    let err = |source| AdminError::Socket {
        path: path.to_owned(),
        source,
    };
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.file_type().is_socket()
    {
        std::fs::remove_file(path).map_err(err)?;
    }
    // The directory is root-only, so nobody can connect between bind and chmod.
    let listener = UnixListener::bind(path).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    tracing::info!(socket = %path.display(), "admin socket listening");
    // Only root is answered: its name is looked up once.
    let root: Arc<str> = user_name(0).into();
    Ok(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let store = Arc::clone(&store);
                    let (audit, root) = (audit.clone(), Arc::clone(&root));
                    tokio::spawn(async move {
                        if let Err(error) = connection(stream, store, audit, root).await {
                            tracing::debug!(%error, "admin connection ended with an error");
                        }
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "accepting on the admin socket failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }))
}

async fn connection(
    stream: UnixStream,
    store: Arc<ApprovalStore>,
    audit: AuditLog,
    by: Arc<str>,
) -> std::io::Result<()> {
    let uid = stream.peer_cred()?.uid();
    let (read, mut write) = stream.into_split();
    if uid != 0 {
        tracing::warn!(
            uid,
            "admin socket: refused a connection from a user other than root"
        );
        let line = reply_line(&AdminReply::Error(format!(
            "the admin socket answers root only (you are uid {uid})"
        )));
        return write.write_all(&line).await;
    }
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_LINE as u64)
            .read_line(&mut line)
            .await?;
        if read == 0 {
            return Ok(());
        }
        let request: AdminRequest = match serde_json::from_str(line.trim()) {
            Ok(request) => request,
            Err(e) => {
                let line = reply_line(&AdminReply::Error(format!("bad request: {e}")));
                write.write_all(&line).await?;
                continue;
            }
        };
        tracing::debug!(?request, by = %by, "admin request");
        let (replies, mut answers) = mpsc::channel::<AdminReply>(256);
        let (store, audit, by) = (Arc::clone(&store), audit.clone(), Arc::clone(&by));
        let work = tokio::task::spawn_blocking(move || {
            handle(request, &store, &audit, &by, &mut |reply| {
                replies
                    .blocking_send(reply)
                    .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            })
        });
        while let Some(reply) = answers.recv().await {
            write.write_all(&reply_line(&reply)).await?;
        }
        work.await.map_err(std::io::Error::other)??;
    }
}

fn reply_line(reply: &AdminReply) -> Vec<u8> {
    let mut line =
        serde_json::to_vec(reply).unwrap_or_else(|_| b"{\"error\":\"encoding\"}".to_vec());
    line.push(b'\n');
    line
}
