//! SIGTERM drains the worker: it stops accepting at once (the shared queue
//! is left to the other workers), closes idle keep-alive connections,
//! answers the request in flight with `Connection: close`, and exits 0.

use std::time::Duration;

use serde_json::json;

use super::http::Connection;
use super::worker::{Worker, listener};

#[test]
fn sigterm_finishes_the_request_in_flight_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let socket = listener();
    let mut worker = Worker::start(dir.path(), &socket, "drain");

    // An idle keep-alive connection: served once, then left open.
    let mut idle = Connection::open(worker.addr);
    let health = idle.request("GET", "/health", None, None);
    assert_eq!(
        health.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&health.body)
    );
    assert_ne!(health.header("connection"), Some("close"));

    // A request in flight: headers sent, and `100 Continue` read back,
    // which hyper sends only once the handler started reading the body.
    let body =
        json!({"email": "slow@example.com", "name": "Slow", "password": "correct horse battery"})
            .to_string();
    let mut slow = Connection::open(worker.addr);
    slow.send(
        format!(
            "POST /api/auth/register HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(slow.read_response().status, 100);

    worker.signal(libc::SIGTERM);
    worker.await_notify("STOPPING=1", Duration::from_secs(5));

    // The idle connection is closed by the server, at once.
    assert!(
        idle.closed_within(Duration::from_secs(3)),
        "the idle keep-alive connection stayed open"
    );

    // Every socket is closed before any connection is: a new connection now
    // waits in the shared queue for another worker (here, the test).
    let mut late = Connection::open(worker.addr);
    late.send(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n");
    socket.set_nonblocking(true).unwrap();
    let taken = (0..300).find_map(|_| match socket.accept() {
        Ok((stream, _)) => Some(stream),
        Err(_) => {
            std::thread::sleep(Duration::from_millis(10));
            None
        }
    });
    assert!(
        taken.is_some(),
        "the draining worker took a new connection from the queue"
    );
    assert!(
        !late.closed_within(Duration::from_millis(200)),
        "nobody but the queue should hold it"
    );

    // The body trickles in over about a second; the answer still comes,
    // with `Connection: close`, and the connection ends after it.
    for piece in body.as_bytes().chunks(body.len().div_ceil(5)) {
        std::thread::sleep(Duration::from_millis(200));
        slow.send(piece);
    }
    let answer = slow.read_response();
    assert_eq!(
        answer.status,
        201,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.header("connection"), Some("close"));
    assert!(slow.closed_within(Duration::from_secs(3)));

    let status = worker.wait_exit(Duration::from_secs(10));
    assert_eq!(
        status.code(),
        Some(0),
        "the worker should exit 0 after draining, got {status}"
    );
}
