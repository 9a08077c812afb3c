//! Slow clients against the real worker, with bounds of a second or so
//! (`APP_HEADER_READ_TIMEOUT`, `APP_BODY_READ_TIMEOUT`): a body trickled
//! slower than its allowance, or a head that never ends, is answered 408
//! and its connection closed; a slow but steady body is served; an idle
//! keep-alive connection is closed unanswered; and a hundred trickling
//! clients are all cut while others are served.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::http::{Connection, Response};
use super::worker::{Worker, listener};

/// The bound both timeouts get here.
const BOUND: Duration = Duration::from_secs(1);

/// How late after its bound a cut may come on a loaded machine.
const SLACK: Duration = Duration::from_secs(2);

/// A worker whose read timeouts are both [`BOUND`].
fn worker(dir: &std::path::Path, name: &str) -> (Worker, std::net::TcpListener) {
    let socket = listener();
    let bound = format!("{}ms", BOUND.as_millis());
    let env = [
        ("APP_HEADER_READ_TIMEOUT", bound.as_str()),
        ("APP_BODY_READ_TIMEOUT", bound.as_str()),
        ("APP_ACCESS_LOG", "off"),
    ];
    let worker = Worker::start_with(dir, &[(&socket, "http")], name, &env);
    (worker, socket)
}

/// The head of a registration whose body of `len` bytes is still to come.
fn register_head(len: usize) -> String {
    format!(
        "POST /api/auth/register HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Content-Length: {len}\r\n\r\n"
    )
}

/// A registration body of at least `len` bytes (JSON allows the padding).
fn register_body(email: &str, len: usize) -> Vec<u8> {
    let json =
        serde_json::json!({"email": email, "name": "Slow", "password": "correct horse battery"});
    let mut body = json.to_string().into_bytes();
    body.resize(len.max(body.len()), b' ');
    body
}

/// Writes `bytes` one at a time, `every` apart, until they are all sent or
/// the server closes the connection; returns how many went out.
fn trickle(mut stream: TcpStream, bytes: Vec<u8>, every: Duration) -> JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut sent = 0;
        for byte in bytes {
            std::thread::sleep(every);
            if stream.write_all(&[byte]).is_err() {
                break;
            }
            sent += 1;
        }
        sent
    })
}

/// Waits (a little) until the log of worker `name` in `dir` holds `needle`.
fn assert_logged(dir: &std::path::Path, name: &str, needle: &str) {
    let path = dir.join(format!("{name}.log"));
    let deadline = Instant::now() + SLACK;
    while !std::fs::read_to_string(&path).is_ok_and(|log| log.contains(needle)) {
        assert!(
            Instant::now() < deadline,
            "{needle:?} not in {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts `response` is the 408 problem the app sends for a slow head or
/// body.
fn assert_timed_out(response: &Response) {
    assert_eq!(
        response.status,
        408,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(
        response.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(response.header("connection"), Some("close"));
    assert_eq!(response.json()["status"], 408);
}

#[test]
fn a_trickled_body_is_answered_408_at_its_bound_and_the_connection_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (worker, _socket) = worker(dir.path(), "trickle");
    let body = register_body("trickle@example.com", 100);
    let mut conn = Connection::open(worker.addr);
    // The server's clock starts once the head is in, so after this.
    let began = Instant::now();
    conn.send(register_head(body.len()).as_bytes());
    let writer = trickle(conn.stream(), body, Duration::from_millis(200));

    let response = conn.read_response();
    let took = began.elapsed();
    assert_timed_out(&response);
    assert!(
        BOUND <= took && took < BOUND + SLACK,
        "answered after {took:?}, with a bound of {BOUND:?}"
    );
    assert!(conn.closed_within(SLACK), "the connection stayed open");
    assert!(writer.join().unwrap() < 100, "the whole body went through");
    assert_logged(
        dir.path(),
        "trickle",
        "a request body arrived too slowly; failing it",
    );
}

#[test]
fn a_slow_but_steady_body_earns_its_time_and_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let (worker, _socket) = worker(dir.path(), "steady");
    // 8 KiB at 4 KiB/s: twice the base bound, but each KiB earns a second.
    let body = register_body("steady@example.com", 8 * 1024);
    let mut conn = Connection::open(worker.addr);
    conn.send(register_head(body.len()).as_bytes());
    let began = Instant::now();
    for piece in body.chunks(1024) {
        std::thread::sleep(Duration::from_millis(250));
        conn.send(piece);
    }
    let response = conn.read_response();
    assert!(
        began.elapsed() > BOUND,
        "the body must outlast the base bound"
    );
    response.expect(201);
    // The connection is still good for another request.
    conn.request("GET", "/health", None, None).expect(200);
}

#[test]
fn a_head_that_never_ends_is_answered_408_at_its_bound_and_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (worker, _socket) = worker(dir.path(), "slowloris");
    let mut conn = Connection::open(worker.addr);
    // An idle pause first: the bound counts from the head's first byte.
    std::thread::sleep(BOUND / 2);
    // The server's clock starts at the head's first byte, so after this.
    let began = Instant::now();
    conn.send(b"GET /health HTTP/1.1\r\nHost: test\r\n");
    let writer = trickle(
        conn.stream(),
        b"X-Slow: 1\r\n".repeat(10),
        Duration::from_millis(200),
    );
    let response = conn.read_response();
    let took = began.elapsed();
    assert_timed_out(&response);
    assert!(
        BOUND <= took && took < BOUND + SLACK,
        "answered after {took:?}, with a bound of {BOUND:?}"
    );
    assert!(conn.closed_within(SLACK), "the connection stayed open");
    writer.join().unwrap();
    assert_logged(
        dir.path(),
        "slowloris",
        "a request head arrived too slowly; closing its connection",
    );
}

#[test]
fn a_keep_alive_connection_idle_for_the_bound_is_closed_unanswered() {
    let dir = tempfile::tempdir().unwrap();
    let (worker, _socket) = worker(dir.path(), "idle");
    let mut conn = Connection::open(worker.addr);
    conn.request("GET", "/health", None, None).expect(200);
    // A pause shorter than the bound keeps the connection.
    std::thread::sleep(BOUND / 2);
    conn.request("GET", "/health", None, None).expect(200);
    let idle = Instant::now();
    let mut unanswered = Vec::new();
    let mut stream = conn.stream();
    stream.set_read_timeout(Some(BOUND + SLACK)).unwrap();
    stream
        .read_to_end(&mut unanswered)
        .expect("closed within the bound, with EOF");
    assert!(
        unanswered.is_empty(),
        "{}",
        String::from_utf8_lossy(&unanswered)
    );
    assert!(idle.elapsed() + Duration::from_millis(50) >= BOUND);
}

#[test]
fn a_hundred_trickling_clients_are_all_cut_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let (worker, _socket) = worker(dir.path(), "hundred");
    let began = Instant::now();
    // Half trickle a body, half a head.
    let clients: Vec<_> = (0..100)
        .map(|i| {
            let addr = worker.addr;
            std::thread::spawn(move || {
                let mut conn = Connection::open(addr);
                let rest = if i % 2 == 0 {
                    let body = register_body(&format!("t{i}@example.com"), 100);
                    conn.send(register_head(body.len()).as_bytes());
                    body
                } else {
                    conn.send(b"GET /health HTTP/1.1\r\n");
                    b"X-Slow: 1\r\n".repeat(10)
                };
                let writer = trickle(conn.stream(), rest, Duration::from_millis(300));
                let response = conn.read_response();
                assert_timed_out(&response);
                assert!(conn.closed_within(SLACK), "the connection stayed open");
                writer.join().unwrap();
            })
        })
        .collect();
    while began.elapsed() < BOUND {
        health(worker.addr);
        std::thread::sleep(Duration::from_millis(100));
    }
    for client in clients {
        client
            .join()
            .expect("a trickling client was not cut as expected");
    }
    assert!(
        began.elapsed() < BOUND + SLACK * 3,
        "cutting them all took {:?}",
        began.elapsed()
    );
    health(worker.addr);
}

/// A client that is not slow is served.
fn health(addr: SocketAddr) {
    Connection::open(addr)
        .request("GET", "/health", None, None)
        .expect(200);
}
