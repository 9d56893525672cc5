//! Keeping an injected secret out of a WebSocket stream: after an upgrade
//! request that carried a secret, every message and control frame the
//! upstream sends is rewritten like a response body (the secret's forms
//! become its placeholder) before the agent gets it. A fragmented message
//! is put together first (up to [`MAX_MESSAGE`]) so a secret split across
//! fragments is found too, and goes on as one frame. Extensions were not
//! offered upstream (see `intercept/request.rs`), so a compressed frame
//! (any RSV bit) is a protocol error and ends the stream, as does a
//! message too large to check.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::Injected;

/// The largest message (all fragments) that is checked; a larger one ends
/// the connection.
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;
/// Control frames carry at most this much payload (RFC 6455, 5.5).
const MAX_CONTROL: usize = 125;

const CONTINUATION: u8 = 0x0;
const CLOSE: u8 = 0x8;

/// Copies the upstream's frames to the agent with the secrets in `injected`
/// replaced; returns at the end of the stream or on a protocol error (the
/// agent's side is then shut down).
pub async fn redact_frames(
    mut upstream: impl AsyncRead + Unpin,
    mut agent: impl AsyncWrite + Unpin,
    injected: &Injected,
) -> io::Result<()> {
    let result = copy_frames(&mut upstream, &mut agent, injected).await;
    let _ = agent.shutdown().await;
    result
}

async fn copy_frames(
    upstream: &mut (impl AsyncRead + Unpin),
    agent: &mut (impl AsyncWrite + Unpin),
    injected: &Injected,
) -> io::Result<()> {
    // A fragmented message being put together: its opcode and payload.
    let mut message: Option<(u8, Vec<u8>)> = None;
    loop {
        let Some(frame) = read_frame(upstream).await? else {
            return Ok(());
        };
        if frame.rsv != 0 {
            return Err(protocol("a frame with RSV bits (no extension was agreed)"));
        }
        if frame.opcode >= CLOSE {
            let (mut payload, _) = injected.rewrite(&frame.payload, true);
            payload.truncate(MAX_CONTROL);
            write_frame(agent, frame.opcode, &payload).await?;
            if frame.opcode == CLOSE {
                return Ok(());
            }
            continue;
        }
        let (opcode, payload) = match (frame.opcode, message.take()) {
            (CONTINUATION, Some((opcode, mut so_far))) => {
                so_far.extend_from_slice(&frame.payload);
                (opcode, so_far)
            }
            (CONTINUATION, None) => return Err(protocol("a continuation without a message")),
            (_, Some(_)) => return Err(protocol("a new message inside a fragmented one")),
            (opcode, None) => (opcode, frame.payload),
        };
        if payload.len() > MAX_MESSAGE {
            return Err(protocol(
                "a message larger than the gateway checks for secrets",
            ));
        }
        if frame.fin {
            let (payload, _) = injected.rewrite(&payload, true);
            write_frame(agent, opcode, &payload).await?;
        } else {
            message = Some((opcode, payload));
        }
    }
}

struct Frame {
    fin: bool,
    rsv: u8,
    opcode: u8,
    payload: Vec<u8>,
}

/// The next frame (unmasked if it was masked); `None` at a clean end of
/// the stream before a frame.
async fn read_frame(io: &mut (impl AsyncRead + Unpin)) -> io::Result<Option<Frame>> {
    let mut head = [0u8; 2];
    match io.read_exact(&mut head).await {
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let len = match head[1] & 0x7f {
        126 => u64::from(io.read_u16().await?),
        127 => io.read_u64().await?,
        n => u64::from(n),
    };
    let len = usize::try_from(len)
        .ok()
        .filter(|&len| len <= MAX_MESSAGE)
        .ok_or_else(|| protocol("a frame larger than the gateway checks for secrets"))?;
    let mask = if head[1] & 0x80 == 0 {
        None
    } else {
        let mut key = [0u8; 4];
        io.read_exact(&mut key).await?;
        Some(key)
    };
    let mut payload = vec![0u8; len];
    io.read_exact(&mut payload).await?;
    if let Some(key) = mask {
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= key[i % 4];
        }
    }
    Ok(Some(Frame {
        fin: head[0] & 0x80 != 0,
        rsv: head[0] & 0x70,
        opcode: head[0] & 0x0f,
        payload,
    }))
}

/// One final, unmasked frame (as a server sends them).
async fn write_frame(
    io: &mut (impl AsyncWrite + Unpin),
    opcode: u8,
    payload: &[u8],
) -> io::Result<()> {
    let mut frame = Vec::with_capacity(payload.len() + 10);
    frame.push(0x80 | opcode);
    match u16::try_from(payload.len()) {
        Ok(len @ 0..=125) => frame.push(u8::try_from(len).unwrap_or(125)),
        Ok(len) => {
            frame.push(126);
            frame.extend_from_slice(&len.to_be_bytes());
        }
        Err(_) => {
            frame.push(127);
            frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    io.write_all(&frame).await?;
    io.flush().await
}

fn protocol(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("WebSocket from the upstream: {what}"),
    )
}
