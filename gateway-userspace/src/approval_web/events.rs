//! `GET /api/events`: the desk's live events as Server-Sent Events, so the
//! page shows a new approval without being reloaded.
//!
//! Each event is `event: created|changed` with the approval as JSON data.
//! `resync` says events were missed (the page then reloads its list); a
//! comment line every few seconds lets a dead connection be noticed.

use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body::{Body, Frame};
use tokio::sync::{broadcast, mpsc};

use crate::approvals::desk::DeskEvent;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A response body that ends when the page goes away or the desk closes.
pub struct EventStream {
    frames: mpsc::Receiver<Bytes>,
}

impl Body for EventStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.frames
            .poll_recv(cx)
            .map(|frame| frame.map(|bytes| Ok(Frame::data(bytes))))
    }
}

/// Forwards `events` until the page disconnects. The caller subscribes
/// before answering, so nothing after the page's `open` is missed.
#[must_use]
pub fn stream(mut events: broadcast::Receiver<DeskEvent>) -> EventStream {
    let (frames, receiver) = mpsc::channel(16);
    tokio::spawn(async move {
        // The browser retries after this many milliseconds when cut off.
        if frames
            .send(Bytes::from_static(b"retry: 2000\n\n"))
            .await
            .is_err()
        {
            return;
        }
        let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
        keep_alive.tick().await;
        loop {
            let frame = tokio::select! {
                event = events.recv() => match event {
                    Ok(event) => encode(&event),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "web page event stream lagged");
                        Bytes::from_static(b"event: resync\ndata: {}\n\n")
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = keep_alive.tick() => Bytes::from_static(b": keep-alive\n\n"),
                () = frames.closed() => break,
            };
            if frames.send(frame).await.is_err() {
                break;
            }
        }
    });
    EventStream { frames: receiver }
}

/// One SSE message. JSON from serde has no raw newlines, so one `data:`
/// line holds it whatever the approval contains.
#[must_use]
pub fn encode(event: &DeskEvent) -> Bytes {
    let (name, approval) = match event {
        DeskEvent::Created { approval } => ("created", approval),
        DeskEvent::Changed { approval } => ("changed", approval),
    };
    let data = serde_json::to_string(approval).unwrap_or_else(|_| "{}".to_owned());
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}
