//! One blocking HTTP/1.1 request on a connection of its own, for the
//! scenarios that need what the load client does not send or keep: a
//! method and body, a bearer token, the answer's body and `Retry-After`.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context as _, bail};

/// How long a request may take in all before it counts as unanswered.
const PATIENCE: Duration = Duration::from_secs(10);

/// A whole answer.
#[derive(Clone, Debug)]
pub struct Answer {
    /// Its status.
    pub status: u16,
    /// Whether it had a `Retry-After` header.
    pub retry_after: bool,
    /// Its body.
    pub body: Vec<u8>,
}

/// Sends `method path` (with a JSON `body` and a bearer `token` if given)
/// and reads the whole answer; the connection is closed after it.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> anyhow::Result<Answer> {
    let mut stream = TcpStream::connect_timeout(&addr, PATIENCE)?;
    stream.set_read_timeout(Some(PATIENCE))?;
    stream.set_write_timeout(Some(PATIENCE))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: chaos\r\nConnection: close\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes)?;
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(length) = response.parse(&bytes).context("an HTTP answer")?
    else {
        bail!("the answer ended inside its head");
    };
    Ok(Answer {
        status: response.code.context("a status")?,
        retry_after: response
            .headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case("retry-after")),
        body: bytes[length..].to_vec(),
    })
}
