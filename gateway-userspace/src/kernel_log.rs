//! Drains the kernel programs' aya-log ring buffer into our own log.
//! Kernel log lines arrive through the `log` crate, which the tracing
//! subscriber forwards, with target `gateway`.

use tokio::{
    io::{Interest, unix::AsyncFd},
    task::JoinHandle,
};

type Logger = aya_log::EbpfLogger<&'static dyn log::Log>;

pub fn spawn_drain(logger: Logger) -> std::io::Result<JoinHandle<()>> {
    // SAFETY: the logger owns its ring buffer's descriptor, which stays
    // open and unchanged for as long as the `AsyncFd` holds the logger.
    let mut logger = unsafe { AsyncFd::register_with_interest(logger, Interest::READABLE) }
        .map_err(std::io::Error::from)?;
    Ok(tokio::spawn(async move {
        loop {
            let Ok(mut guard) = logger.readable_mut().await else {
                tracing::error!("kernel log ring buffer failed; kernel log lines are lost");
                return;
            };
            guard.get_inner_mut().flush();
            guard.clear_ready();
        }
    }))
}
