//! Just enough HTTP/1.1 for the tests: one request per connection, no bodies,
//! every response `Connection: close` with a `Content-Length`.

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;

/// Longest request head we accept; a test client never sends more.
const MAX_HEAD: usize = 16 * 1024;

/// The parts of a request line the routes look at.
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path without the query string.
    pub path: String,
    /// Everything after `?`, or empty.
    pub query: String,
}

/// Reads the request line and the headers (which are ignored). `Ok(None)` when
/// the peer closed or sent garbage, in which case there is nobody to answer.
pub fn read_request(stream: &TcpStream) -> io::Result<Option<Request>> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let request = Request {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
    };
    let mut total = line.len();
    loop {
        let mut header = String::new();
        let n = reader.read_line(&mut header)?;
        total += n;
        if n == 0 || header == "\r\n" || header == "\n" || total > MAX_HEAD {
            break;
        }
    }
    Ok(Some(request))
}

/// The value of `key` in a query string like `a=1&b=2` (no percent-decoding:
/// the tests only pass numbers).
pub fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// Writes a complete JSON response in one go.
pub fn write_response(mut stream: &TcpStream, status: u16, body: &str) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        _ => "Unknown",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes())?;
    stream.flush()
}
