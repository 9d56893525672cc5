//! One upstream connection: HTTP GET or greeting + echo.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::Accepted;

/// How long to wait for a client that speaks first (HTTP) before greeting.
const FIRST_BYTES_WAIT: Duration = Duration::from_millis(500);

pub(super) fn serve(mut stream: TcpStream, conn: Accepted) {
    let greeting = format!("peer={} local={}\n", conn.peer, conn.local);
    let _ = stream.set_nonblocking(false);
    let first = read_first_bytes(&mut stream);
    if first.starts_with(b"GET ") {
        answer_http(&mut stream, first, &greeting);
    } else {
        greet_and_echo(&mut stream, &first, &greeting);
    }
}

fn read_first_bytes(stream: &mut TcpStream) -> Vec<u8> {
    let _ = stream.set_read_timeout(Some(FIRST_BYTES_WAIT));
    let mut first = Vec::new();
    let mut buf = [0u8; 4096];
    while first.len() < 4 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => first.extend_from_slice(&buf[..n]),
        }
    }
    first
}

fn answer_http(stream: &mut TcpStream, mut request: Vec<u8>, body: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let response = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

fn greet_and_echo(stream: &mut TcpStream, first: &[u8], greeting: &str) {
    if stream.write_all(greeting.as_bytes()).is_err() || stream.write_all(first).is_err() {
        return;
    }
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}
