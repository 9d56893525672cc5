//! Drains the kernel programs' aya-log ring buffer into our own log.
//! Kernel log lines arrive through the `log` crate, which the tracing
//! subscriber forwards, with target `gateway`.

use tokio::{
    io::{Interest, unix::AsyncFd},
    sync::oneshot,
    task::JoinHandle,
};

type Logger = aya_log::EbpfLogger<&'static dyn log::Log>;

/// The draining task; `stop` drains what is left and ends it.
pub struct KernelLogDrain {
    task: JoinHandle<()>,
    stop: Option<oneshot::Sender<()>>,
}

impl KernelLogDrain {
    pub fn spawn(logger: Logger) -> std::io::Result<Self> {
        // SAFETY: the logger owns its ring buffer's descriptor, which stays
        // open and unchanged for as long as the `AsyncFd` holds the logger.
        let mut logger = unsafe { AsyncFd::register_with_interest(logger, Interest::READABLE) }
            .map_err(std::io::Error::from)?;
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    guard = logger.readable_mut() => {
                        let Ok(mut guard) = guard else {
                            tracing::error!("kernel log ring buffer failed; kernel log lines are lost");
                            return;
                        };
                        guard.get_inner_mut().flush();
                        guard.clear_ready();
                    }
                    _ = &mut stopped => {
                        logger.get_mut().flush();
                        return;
                    }
                }
            }
        });
        Ok(Self {
            task,
            stop: Some(stop),
        })
    }

    /// Forwards the lines still in the ring buffer, then ends the task.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for KernelLogDrain {
    fn drop(&mut self) {
        self.task.abort();
    }
}
