//! The upstream of the benchmarks: a TCP echo server on 127.0.0.1.
//!
//! A fixed pool of blocking threads, each accepting and then echoing one
//! connection until it ends. Plain blocking syscalls keep its cost the
//! same whether xtask is built with or without optimisations (it is
//! usually run unoptimised through `cargo xtask`), and no thread is
//! spawned per connection.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context as _, Result};

/// How often a thread waiting for data on an idle connection looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// Stops (and joins its threads) when dropped.
pub struct EchoServer {
    addr: SocketAddr,
    listener: Arc<TcpListener>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl EchoServer {
    /// Listens on 127.0.0.1 on a free port; `threads` connections can be
    /// served at once (more wait in the accept queue).
    pub fn start(threads: usize) -> Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .context("binding the echo server on 127.0.0.1")?;
        let addr = listener
            .local_addr()
            .context("reading the echo server's address")?;
        let listener = Arc::new(listener);
        let stop = Arc::new(AtomicBool::new(false));
        let mut server = Self {
            addr,
            listener,
            stop,
            threads: Vec::with_capacity(threads),
        };
        for index in 0..threads {
            let listener = Arc::clone(&server.listener);
            let stop = Arc::clone(&server.stop);
            let thread = std::thread::Builder::new()
                .name(format!("echo-{index}"))
                .spawn(move || serve(&listener, &stop))
                .context("starting an echo server thread")?;
            server.threads.push(thread);
        }
        Ok(server)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // shutdown(2) on a listening socket makes every blocked accept(2)
        // return (EINVAL), so the threads see the flag.
        // SAFETY: the descriptor belongs to `self.listener`, which is alive;
        // shutdown does not close or otherwise invalidate it.
        unsafe {
            libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR);
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn serve(listener: &TcpListener, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => echo(stream, stop),
            // Out of descriptors and the like: do not spin.
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

fn echo(mut stream: TcpStream, stop: &AtomicBool) {
    if stream.set_nodelay(true).is_err() || stream.set_read_timeout(Some(STOP_CHECK)).is_err() {
        return;
    }
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return,
            Ok(n) => {
                if stream.write_all(&buffer[..n]).is_err() {
                    return;
                }
            }
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
