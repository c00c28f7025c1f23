//! Minimal HTTP/1.1 messages, real enough that tshark dissects them.

/// A `GET` request with `Connection: close`.
pub fn request(host: &str, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: scanbench/0.1\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// The header of a `200 OK` response carrying `body_len` bytes.
pub fn response_header(body_len: usize) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nServer: scanbench\r\nContent-Type: text/html\r\nContent-Length: {body_len}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// Body byte at offset `i`: printable, deterministic, no allocation for large bodies.
pub fn body_byte(i: usize) -> u8 {
    b"<p>scanbench</p>\n"[i % 17]
}

/// True once `buf` holds a complete request head.
pub fn head_complete(buf: &[u8]) -> bool {
    buf.windows(4).any(|w| w == b"\r\n\r\n")
}
