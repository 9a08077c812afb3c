//! A minimal HTTP/1.1 client (one connection per request), and a load
//! generator that counts failed requests.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

/// `GET path` on a new connection; returns the status and the body.
pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    request(addr, "GET", path, None)
}

/// `POST path` with a JSON body on a new connection.
pub fn post_json(addr: SocketAddr, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    request(addr, "POST", path, Some(body))
}

fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    json: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = json.unwrap_or_default();
    let content_type = match json {
        Some(_) => "Content-Type: application/json\r\n",
        None => "",
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{content_type}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("incomplete response: {response:?}")))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head:?}")))?;
    Ok((status, body.to_owned()))
}

/// `GET path`, expecting 200 and a JSON body.
pub fn get_json(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = get(addr, path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// Clients sending `GET path` in a loop, each request on a new connection.
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
    /// Starts `clients` threads requesting `/`.
    pub fn start(addr: SocketAddr, clients: usize) -> Self {
        Self::start_on(addr, "/", clients)
    }

    /// Starts `clients` threads requesting `path`.
    pub fn start_on(addr: SocketAddr, path: &'static str, clients: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..clients)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut report = LoadReport::default();
                    while !stop.load(Ordering::Relaxed) {
                        match get(addr, path) {
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
