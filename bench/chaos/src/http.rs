//! Just enough HTTP/1.1 for the load client: one `GET` written, one whole
//! response read (the head parsed by `httparse`, the body by length, chunks
//! or close), and whether the connection may carry another.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Why an exchange gave no response.
pub enum Broken {
    /// An I/O error, or `UnexpectedEof` for a close before a whole response.
    Io(std::io::ErrorKind),
    /// Bytes that are not an HTTP/1.1 response.
    Malformed,
}

impl From<std::io::Error> for Broken {
    fn from(error: std::io::Error) -> Self {
        Self::Io(error.kind())
    }
}

/// Sends one `GET` and reads the whole response: its status, and whether
/// the connection may carry another request.
pub async fn exchange(
    stream: &mut BufReader<TcpStream>,
    path: &str,
    keep_alive: bool,
) -> Result<(u16, bool), Broken> {
    let connection = if keep_alive {
        ""
    } else {
        "Connection: close\r\n"
    };
    let request = format!("GET {path} HTTP/1.1\r\nHost: chaos\r\n{connection}\r\n");
    stream.get_mut().write_all(request.as_bytes()).await?;

    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read_until(b'\n', &mut head).await? == 0 {
            return Err(Broken::Io(std::io::ErrorKind::UnexpectedEof));
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(Broken::Malformed),
    }
    let status = response.code.ok_or(Broken::Malformed)?;
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    let close = header("connection").is_some_and(|v| v == "close") || response.version != Some(1);
    if header("transfer-encoding").is_some_and(|v| v.ends_with("chunked")) {
        read_chunks(stream).await?;
    } else if let Some(length) = header("content-length") {
        let length: usize = length.parse().map_err(|_| Broken::Malformed)?;
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await?;
    } else if close {
        stream.read_to_end(&mut Vec::new()).await?;
    }
    Ok((status, !close))
}

/// Reads a chunked body to its end, trailers included.
async fn read_chunks(stream: &mut BufReader<TcpStream>) -> Result<(), Broken> {
    let mut line = String::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return Err(Broken::Io(std::io::ErrorKind::UnexpectedEof));
        }
        let size = line.trim().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size, 16).map_err(|_| Broken::Malformed)?;
        if size == 0 {
            break;
        }
        let mut chunk = vec![0; size + 2];
        stream.read_exact(&mut chunk).await?;
    }
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 || line == "\r\n" {
            return Ok(());
        }
    }
}
