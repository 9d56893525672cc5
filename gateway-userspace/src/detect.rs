//! What protocol an agent speaks on a redirected connection, from its
//! first bytes: a TLS `ClientHello`, an HTTP/1 request line or the HTTP/2
//! preface, or anything else.
//!
//! The bytes are peeked, not read, so whatever handles the connection
//! sees them again. Protocols where the server speaks first (SSH, SMTP,
//! databases) send nothing: after a short wait they count as raw TCP.

use std::time::Duration;

use tokio::net::TcpStream;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tls,
    Http,
    Raw,
}

const METHODS: [&[u8]; 10] = [
    b"GET ",
    b"POST ",
    b"PUT ",
    b"HEAD ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
    b"PRI * HTTP/2",
];

/// Classifies by the first bytes, or `None` while they are too few to say.
#[must_use]
pub fn classify(bytes: &[u8]) -> Option<Protocol> {
    match bytes {
        // TLS record header: handshake (22), version 3.x.
        [] | [0x16] => None,
        [0x16, 0x03, ..] => Some(Protocol::Tls),
        _ => {
            let mut undecided = false;
            for method in METHODS {
                let n = bytes.len().min(method.len());
                if bytes[..n] == method[..n] {
                    if n == method.len() {
                        return Some(Protocol::Http);
                    }
                    undecided = true;
                }
            }
            (!undecided).then_some(Protocol::Raw)
        }
    }
}

/// Peeks until the first bytes decide, the peer closes, or `wait` passes.
pub async fn detect(stream: &TcpStream, wait: Duration) -> Protocol {
    let mut buf = [0u8; 16];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let peeked = tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await;
        match peeked {
            Ok(Ok(0) | Err(_)) | Err(_) => return Protocol::Raw,
            Ok(Ok(n)) => {
                if let Some(protocol) = classify(&buf[..n]) {
                    return protocol;
                }
                if n == buf.len() {
                    return Protocol::Raw;
                }
                // Fewer bytes than needed so far; wait for more.
                if tokio::time::timeout_at(deadline, stream.readable())
                    .await
                    .is_err()
                {
                    return Protocol::Raw;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_first_bytes() {
        assert_eq!(classify(&[0x16, 0x03, 0x01]), Some(Protocol::Tls));
        assert_eq!(classify(b"GET / HTTP/1.1\r\n"), Some(Protocol::Http));
        assert_eq!(classify(b"PRI * HTTP/2.0\r\n"), Some(Protocol::Http));
        assert_eq!(classify(b"SSH-2.0-OpenSSH"), Some(Protocol::Raw));
        assert_eq!(classify(b"\x00\x01"), Some(Protocol::Raw));
        assert_eq!(classify(b"GE"), None);
        assert_eq!(classify(b"P"), None);
        assert_eq!(classify(&[0x16]), None);
        assert_eq!(classify(b"GETX"), Some(Protocol::Raw));
    }
}
