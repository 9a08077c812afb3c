//! A minimal HTTP/1.1 client (one connection per request), and a load
//! generator that counts failed requests, on new or keep-alive connections.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

/// `GET path` on a new connection; returns the status and the body.
pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    request(addr, "GET", path, None).map(|r| (r.status, r.body))
}

/// `POST path` with a JSON body on a new connection.
pub fn post_json(addr: SocketAddr, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    request(addr, "POST", path, Some(body)).map(|r| (r.status, r.body))
}

/// `POST path` with a JSON body as the holder of bearer `token`.
pub fn post_json_as(
    addr: SocketAddr,
    path: &str,
    body: &str,
    token: &str,
) -> std::io::Result<(u16, String)> {
    let auth = format!("Authorization: Bearer {token}\r\n");
    request_with(addr, "POST", path, Some(body), &auth).map(|r| (r.status, r.body))
}

/// `GET path` as the holder of bearer `token`, on a new connection.
pub fn get_as(addr: SocketAddr, path: &str, token: &str) -> std::io::Result<(u16, String)> {
    let auth = format!("Authorization: Bearer {token}\r\n");
    request_with(addr, "GET", path, None, &auth).map(|r| (r.status, r.body))
}

/// `method path` without a body on a new connection, for a test that looks
/// at the headers too (or sends `HEAD`).
pub fn send(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<Response> {
    request(addr, method, path, None)
}

/// A whole response.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The header lines, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, as sent (not de-chunked).
    pub body: String,
}

impl Response {
    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    json: Option<&str>,
) -> std::io::Result<Response> {
    request_with(addr, method, path, json, "")
}

/// [`request`] with `headers` (whole lines, each ending in CRLF) added.
fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    json: Option<&str>,
    headers: &str,
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = json.unwrap_or_default();
    let content_type = match json {
        Some(_) => "Content-Type: application/json\r\n",
        None => "",
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{headers}{content_type}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("incomplete response: {response:?}")))?;
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head:?}")))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_owned(), value.trim().to_owned()))
        .collect();
    Ok(Response {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// `GET path`, expecting 200 and a JSON body.
pub fn get_json(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = get(addr, path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

impl LoadReport {
    /// `failed/total` and the distinct failures with their counts, for
    /// assertion messages and measurements.
    pub fn summary(&self) -> String {
        let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
        for failure in &self.failures {
            *kinds.entry(failure).or_default() += 1;
        }
        let total = self.ok + self.failures.len() as u64;
        format!(
            "{} failed of {total} requests {kinds:?}",
            self.failures.len()
        )
    }
}

/// Clients sending `GET` in a loop, on a new connection per request or on
/// keep-alive connections.
pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<LoadReport>>,
}

/// What a load run saw.
#[derive(Default)]
pub struct LoadReport {
    /// Requests answered 200.
    pub ok: u64,
    /// Every failure, as text.
    pub failures: Vec<String>,
}

impl Load {
    /// Starts `clients` threads requesting `/`, each on a new connection.
    pub fn start(addr: SocketAddr, clients: usize) -> Self {
        Self::start_on(addr, "/", clients)
    }

    /// Starts `clients` threads requesting `path`, each on a new connection.
    pub fn start_on(addr: SocketAddr, path: &'static str, clients: usize) -> Self {
        Self::spawn(clients, move |_| get(addr, path))
    }

    /// Starts `clients` threads requesting `path` as the holder of bearer
    /// `token`, each request on a new connection.
    pub fn start_as(addr: SocketAddr, path: &'static str, token: String, clients: usize) -> Self {
        Self::spawn(clients, move |_| get_as(addr, path, &token))
    }

    /// Starts `clients` threads requesting `/` back to back on keep-alive
    /// connections, as a browser or `wrk` would. A client opens a new
    /// connection only after a response that said `Connection: close` (or
    /// after a failure): a server that closes a connection it did not
    /// announce as closing, racing the next request, shows up as failures.
    pub fn start_keep_alive(addr: SocketAddr, clients: usize) -> Self {
        Self::start_keep_alive_on(addr, "/", clients)
    }

    /// As [`Load::start_keep_alive`], requesting `path`.
    pub fn start_keep_alive_on(addr: SocketAddr, path: &'static str, clients: usize) -> Self {
        Self::spawn(clients, move |conn| {
            let stream = match conn.take() {
                Some(stream) => stream,
                None => BufReader::new(TcpStream::connect_timeout(&addr, Duration::from_secs(5))?),
            };
            let (status, body, keep) = keep_alive_get(stream, path)?;
            *conn = keep;
            Ok((status, body))
        })
    }

    fn spawn<F>(clients: usize, request: F) -> Self
    where
        F: Fn(&mut Option<BufReader<TcpStream>>) -> std::io::Result<(u16, String)>,
        F: Clone + Send + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..clients)
            .map(|_| {
                let (stop, request) = (stop.clone(), request.clone());
                std::thread::spawn(move || {
                    let mut report = LoadReport::default();
                    let mut conn = None;
                    while !stop.load(Ordering::Relaxed) {
                        match request(&mut conn) {
                            Ok((200, _)) => report.ok += 1,
                            Ok((status, body)) => report.failures.push(format!("{status}: {body}")),
                            Err(err) => report.failures.push(err.to_string()),
                        }
                    }
                    report
                })
            })
            .collect();
        Self { stop, threads }
    }

    /// Stops the clients and sums up what they saw.
    pub fn stop(self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        let mut total = LoadReport::default();
        for thread in self.threads {
            let report = thread.join().expect("load thread");
            total.ok += report.ok;
            total.failures.extend(report.failures);
        }
        total
    }
}

/// One `GET` on a keep-alive connection: the status, the body, and the
/// connection back unless the response said `Connection: close`.
fn keep_alive_get(
    mut stream: BufReader<TcpStream>,
    path: &str,
) -> std::io::Result<(u16, String, Option<BufReader<TcpStream>>)> {
    stream
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream.get_mut(),
        "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n"
    )?;
    let mut line = String::new();
    if stream.read_line(&mut line)? == 0 {
        return Err(std::io::Error::other("connection closed before a response"));
    }
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {line:?}")))?;
    let (mut length, mut close) = (0, false);
    loop {
        line.clear();
        stream.read_line(&mut line)?;
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().map_err(std::io::Error::other)?;
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body)?;
    let body = String::from_utf8_lossy(&body).into_owned();
    Ok((status, body, (!close).then_some(stream)))
}
