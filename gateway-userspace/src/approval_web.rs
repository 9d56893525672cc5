//! The local web page for approvals: the default channel when no messaging
//! app is configured. An HTTP/1.1 server on host loopback only, opened with
//! the token in `state_dir/web.token`, showing the pending approvals of an
//! [`ApprovalDesk`] live and recording people's decisions through it.
//!
//! Agents never reach it: it listens on 127.0.0.1 of the host, and the
//! proxy refuses the gateway's own ports whatever a policy says
//! (`own_ports.rs`).

mod access;
mod api;
mod assets;
mod events;
pub mod memory_desk;
mod response;
mod routes;
pub mod token;

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::Path,
    sync::Arc,
    time::Duration,
};

use hyper::{server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{
    net::TcpListener,
    task::{JoinHandle, JoinSet},
};

use self::{
    access::Gate,
    token::{TokenError, WebToken},
};
use crate::approvals::desk::ApprovalDesk;

pub use self::token::TOKEN_FILE;

/// A request whose headers take longer than this is dropped.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("approvals web page: listening on 127.0.0.1:{port}: {source}")]
    Listen { port: u16, source: std::io::Error },
}

/// What every request handler shares.
struct Site {
    desk: Arc<dyn ApprovalDesk>,
    gate: Gate,
}

/// A serving web page; dropping it stops serving (open pages lose their
/// live connection and show "reconnecting").
pub struct RunningWeb {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for RunningWeb {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `http://127.0.0.1:PORT/?token=…`
#[must_use]
pub fn web_url(port: u16, token: &WebToken) -> String {
    format!("http://127.0.0.1:{port}/?token={}", token.as_str())
}

/// Serves the page for `desk` on 127.0.0.1:`port` (0: any free port),
/// making the token at `token_path` if it is missing. Call from within a
/// tokio runtime.
pub fn serve(
    desk: Arc<dyn ApprovalDesk>,
    port: u16,
    token_path: &Path,
) -> Result<RunningWeb, WebError> {
    let token = WebToken::load_or_create(token_path)?;
    let listen = |source| WebError::Listen { port, source };
    let std_listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).map_err(listen)?;
    std_listener.set_nonblocking(true).map_err(listen)?;
    let listener = TcpListener::from_std(std_listener).map_err(listen)?;
    let addr = listener.local_addr().map_err(listen)?;
    let site = Arc::new(Site {
        desk,
        gate: Gate::new(token, addr.port()),
    });
    let task = tokio::spawn(accept_loop(listener, site));
    tracing::info!(%addr, token_path = %token_path.display(), "approvals web page serving");
    Ok(RunningWeb { addr, task })
}

async fn accept_loop(listener: TcpListener, site: Arc<Site>) {
    // Owned here so that stopping the page (aborting this task) also ends
    // open connections, live event streams included.
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "web page accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let site = Arc::clone(&site);
        connections.spawn(async move {
            let service = service_fn(move |request| routes::handle(Arc::clone(&site), request));
            let mut builder = http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            if let Err(error) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "web page connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests;
