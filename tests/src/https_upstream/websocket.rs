//! The upstream's WebSocket endpoint (RFC 6455 over HTTP/1.1): accepts the
//! upgrade and echoes every text or binary message; answers ping and close.
//! On `/ws/whoami` each echo starts with the upgrade request's
//! `Authorization` value (an upstream that repeats a credential back).

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::routes::Body;

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC11B85";

pub(super) fn is_upgrade<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}{GUID}").as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

pub(super) fn accept(mut req: Request<Incoming>) -> Response<Body> {
    let Some(key) = req
        .headers()
        .get("sec-websocket-key")
        .and_then(|v| v.to_str().ok())
        .map(accept_key)
    else {
        return Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .body(Empty::new().boxed())
            .expect("valid response");
    };
    let prefix = (req.uri().path() == "/ws/whoami").then(|| {
        req.headers()
            .get(header::AUTHORIZATION)
            .map(|v| format!("{} ", String::from_utf8_lossy(v.as_bytes())))
            .unwrap_or_default()
    });
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            let _ = echo(TokioIo::new(upgraded), prefix.unwrap_or_default()).await;
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "Upgrade")
        .header("sec-websocket-accept", key)
        .body(Empty::new().boxed())
        .expect("valid response")
}

async fn echo(mut io: impl AsyncRead + AsyncWrite + Unpin, prefix: String) -> std::io::Result<()> {
    loop {
        let (opcode, payload) = read_frame(&mut io).await?;
        match opcode {
            // text, binary: echo (after the prefix); ping: pong
            1 | 2 => {
                let echoed = [prefix.as_bytes(), &payload].concat();
                write_frame(&mut io, opcode, &echoed).await?;
            }
            9 => write_frame(&mut io, 10, &payload).await?,
            8 => {
                write_frame(&mut io, 8, &payload).await?;
                return io.shutdown().await;
            }
            _ => {}
        }
    }
}

/// One (unfragmented, masked) client frame: opcode and unmasked payload.
async fn read_frame(io: &mut (impl AsyncRead + Unpin)) -> std::io::Result<(u8, Bytes)> {
    let mut head = [0u8; 2];
    io.read_exact(&mut head).await?;
    let opcode = head[0] & 0x0f;
    let masked = head[1] & 0x80 != 0;
    let len = match head[1] & 0x7f {
        126 => u64::from(io.read_u16().await?),
        127 => io.read_u64().await?,
        n => u64::from(n),
    };
    let mut mask = [0u8; 4];
    if masked {
        io.read_exact(&mut mask).await?;
    }
    let len = usize::try_from(len).map_err(std::io::Error::other)?;
    let mut payload = vec![0u8; len];
    io.read_exact(&mut payload).await?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Ok((opcode, payload.into()))
}

/// One final, unmasked server frame.
async fn write_frame(
    io: &mut (impl AsyncWrite + Unpin),
    opcode: u8,
    payload: &[u8],
) -> std::io::Result<()> {
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n @ 0..=125 => frame.push(u8::try_from(n).expect("small")),
        n @ 126..=0xffff => {
            frame.push(126);
            frame.extend_from_slice(&u16::try_from(n).expect("fits").to_be_bytes());
        }
        n => {
            frame.push(127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    io.write_all(&frame).await?;
    io.flush().await
}
