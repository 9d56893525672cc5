//! The client's workloads: keep-alive requests, new connections, a
//! download, idle connections.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use http_body_util::{BodyExt as _, Empty};
use hyper::{Request, StatusCode, header};

use super::{ClientRun, Connection, IO_TIMEOUT, MAX_FAILURES_IN_A_ROW, Target};

/// Failures of one loop: counted, the first kept, and too many in a row
/// end the loop.
#[derive(Default)]
struct Failures {
    count: u64,
    in_a_row: u64,
    first: Option<String>,
}

impl Failures {
    fn record(&mut self, error: &anyhow::Error) {
        self.count += 1;
        self.in_a_row += 1;
        self.first.get_or_insert_with(|| format!("{error:#}"));
    }

    fn too_many(&self) -> bool {
        self.in_a_row >= MAX_FAILURES_IN_A_ROW
    }
}

/// What one loop did.
#[derive(Default)]
struct Tally {
    /// Successes in the measured part.
    counted: u64,
    /// Successes outside it.
    uncounted: u64,
    failures: Failures,
}

/// Runs `tasks` copies of `task` and sums what they did.
async fn spawn_all<F, Fut>(tasks: usize, task: F) -> Tally
where
    F: Fn() -> Fut,
    Fut: Future<Output = Tally> + Send + 'static,
{
    let handles: Vec<_> = (0..tasks).map(|_| tokio::spawn(task())).collect();
    let mut total = Tally::default();
    for handle in handles {
        match handle.await {
            Ok(tally) => {
                total.counted += tally.counted;
                total.uncounted += tally.uncounted;
                total.failures.count += tally.failures.count;
                if total.failures.first.is_none() {
                    total.failures.first = tally.failures.first;
                }
            }
            Err(error) => {
                total.failures.count += 1;
                total
                    .failures
                    .first
                    .get_or_insert_with(|| error.to_string());
            }
        }
    }
    total
}

async fn first_peer_port(target: &Target) -> Result<u16> {
    let (mut connection, peer_port) = target.open().await.context("first connection")?;
    target
        .get(&mut connection.sender, "/hello")
        .await
        .context("first request")?;
    connection.close().await;
    Ok(peer_port)
}

pub(super) async fn keep_alive(
    target: &Arc<Target>,
    connections: usize,
    warmup: Duration,
    time: Duration,
) -> Result<ClientRun> {
    let peer_port = first_peer_port(target).await?;
    let start = Instant::now() + warmup;
    let end = start + time;
    let tally = spawn_all(connections, || {
        let target = Arc::clone(target);
        async move {
            let mut tally = Tally::default();
            let mut open: Option<Connection> = None;
            while Instant::now() < end && !tally.failures.too_many() {
                let connection = match open.take() {
                    Some(connection) => connection,
                    None => match target.open().await {
                        Ok((connection, _)) => connection,
                        Err(error) => {
                            tally.failures.record(&error);
                            continue;
                        }
                    },
                };
                let mut connection = connection;
                match target.get(&mut connection.sender, "/hello").await {
                    Ok(_) => {
                        tally.failures.in_a_row = 0;
                        let now = Instant::now();
                        if now >= start && now < end {
                            tally.counted += 1;
                        } else {
                            tally.uncounted += 1;
                        }
                        open = Some(connection);
                    }
                    Err(error) => tally.failures.record(&error),
                }
            }
            if let Some(connection) = open {
                connection.close().await;
            }
            tally
        }
    })
    .await;
    Ok(ClientRun {
        count: tally.counted,
        failures: tally.failures.count,
        first_failure: tally.failures.first,
        elapsed_ns: nanos(time),
        peer_port,
        // The first connection's request too.
        uncounted: tally.uncounted + 1,
        ..ClientRun::default()
    })
}

pub(super) async fn new_connections(
    target: &Arc<Target>,
    in_flight: usize,
    time: Duration,
) -> Result<ClientRun> {
    let peer_port = first_peer_port(target).await?;
    let start = Instant::now();
    let end = start + time;
    let tally = spawn_all(in_flight, || {
        let target = Arc::clone(target);
        async move {
            let mut tally = Tally::default();
            while Instant::now() < end && !tally.failures.too_many() {
                let once = async {
                    let (mut connection, _) = target.open().await?;
                    let result = target.get(&mut connection.sender, "/hello").await;
                    connection.close().await;
                    result
                };
                match tokio::time::timeout(IO_TIMEOUT, once).await {
                    Ok(Ok(_)) => {
                        tally.counted += 1;
                        tally.failures.in_a_row = 0;
                    }
                    Ok(Err(error)) => tally.failures.record(&error),
                    Err(_) => tally.failures.record(&anyhow::anyhow!("timed out")),
                }
            }
            tally
        }
    })
    .await;
    Ok(ClientRun {
        count: tally.counted,
        failures: tally.failures.count,
        first_failure: tally.failures.first,
        elapsed_ns: nanos(start.elapsed()),
        peer_port,
        // The first connection.
        uncounted: 1,
        ..ClientRun::default()
    })
}

pub(super) async fn download(target: &Target, bytes: u64, max_time: Duration) -> Result<ClientRun> {
    let (mut connection, peer_port) = target.open().await.context("connecting")?;
    // One small request first, so that the timed part is the body only.
    target
        .get(&mut connection.sender, "/hello")
        .await
        .context("first request")?;
    let start = Instant::now();
    // Counted as it arrives: a download cut short by the time limit
    // still tells how far it got.
    let received = AtomicU64::new(0);
    let path = format!("/download?bytes={bytes}");
    let body = async {
        connection
            .sender
            .ready()
            .await
            .context("connection closed")?;
        let request = Request::get(path.as_str())
            .header(header::HOST, &target.host)
            .body(Empty::new())
            .context("building a request")?;
        let response = connection
            .sender
            .send_request(request)
            .await
            .context("request")?;
        if response.status() != StatusCode::OK {
            bail!("{path}: HTTP status {}", response.status());
        }
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            if let Some(data) = frame.context("reading the body")?.data_ref() {
                received.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
        }
        Ok(())
    };
    let (complete, failure) = match tokio::time::timeout(max_time, body).await {
        Ok(Ok(())) => (true, None),
        Ok(Err(error)) => (false, Some(format!("{error:#}"))),
        Err(_) => (false, None),
    };
    let elapsed = start.elapsed();
    let count = received.load(Ordering::Relaxed);
    if complete && count != bytes {
        bail!("the download ended after {count} of {bytes} bytes");
    }
    Ok(ClientRun {
        count,
        failures: u64::from(failure.is_some()),
        first_failure: failure,
        elapsed_ns: nanos(elapsed),
        peer_port,
        uncounted: 0,
        complete,
        cpu_ns: 0,
    })
}

pub(super) async fn hold_idle(
    target: &Arc<Target>,
    connections: usize,
    in_flight: usize,
) -> Result<(ClientRun, Vec<Connection>)> {
    let start = Instant::now();
    let mut held = Vec::with_capacity(connections);
    let mut failures = Failures::default();
    let mut peer_port = 0;
    while held.len() < connections && !failures.too_many() {
        let batch = in_flight.min(connections - held.len());
        let opening: Vec<_> = (0..batch)
            .map(|_| {
                let target = Arc::clone(target);
                tokio::spawn(async move {
                    let (mut connection, port) = target.open().await?;
                    target.get(&mut connection.sender, "/hello").await?;
                    anyhow::Ok((connection, port))
                })
            })
            .collect();
        for opened in opening {
            match opened.await.context("opening task")? {
                Ok((connection, port)) => {
                    peer_port = port;
                    failures.in_a_row = 0;
                    held.push(connection);
                }
                Err(error) => failures.record(&error),
            }
        }
    }
    Ok((
        ClientRun {
            count: held.len() as u64,
            failures: failures.count,
            first_failure: failures.first,
            elapsed_ns: nanos(start.elapsed()),
            peer_port,
            ..ClientRun::default()
        },
        held,
    ))
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
