//! SIGTERM drains the worker without failing a request: it stops accepting
//! at once (the shared queue is left to the other workers), answers every
//! request on the connections it holds with `Connection: close`, closes a
//! connection only once it has been idle for the grace, and exits 0 as
//! soon as nothing is left, well before the drain timeout (10 s here).

use std::time::{Duration, Instant};

use app::infrastructure::server::IDLE_GRACE;
use serde_json::json;

use super::http::{Connection, Response};
use super::queue;
use super::worker::{Worker, listener};

/// How much earlier than the grace a close may be seen: `STOPPING=1` is
/// sent just before the drain begins, and read here a little later.
const SLACK: Duration = Duration::from_millis(50);

/// Well before the drain timeout: how long a drain with nothing pending
/// may take, the grace included, on a loaded machine.
const PROMPT: Duration = Duration::from_secs(3);

/// Sends SIGTERM and returns when the worker says `STOPPING=1`.
fn drain(worker: &mut Worker) -> Instant {
    worker.signal(libc::SIGTERM);
    worker.await_notify("STOPPING=1", Duration::from_secs(5));
    Instant::now()
}

/// Asserts `response` is a 200 that closes its connection, and that the
/// worker then closes it.
fn assert_last(conn: &mut Connection, response: &Response) {
    let body = String::from_utf8_lossy(&response.body);
    assert_eq!(response.status, 200, "{body}");
    assert_eq!(response.header("connection"), Some("close"), "{body}");
    assert!(
        conn.closed_within(PROMPT),
        "the connection stayed open after `Connection: close`"
    );
}

/// Waits for the worker to exit and asserts it exited 0, soon.
fn assert_exits_zero(worker: &mut Worker, since: Instant) {
    let status = worker.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "exited with {status}");
    assert!(
        since.elapsed() < PROMPT,
        "nothing was pending, yet the drain took {:?}",
        since.elapsed()
    );
}

#[test]
fn sigterm_finishes_the_request_in_flight_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let socket = listener();
    let mut worker = Worker::start(dir.path(), &socket, "drain");

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

    drain(&mut worker);

    // Every socket is closed before any connection is: a new connection now
    // waits in the shared queue for another worker (here, the test).
    let mut late = Connection::open(worker.addr);
    late.send(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n");
    let taken = queue::take(&socket, Duration::from_secs(3));
    assert!(
        taken.is_some(),
        "the draining worker took a new connection from the queue"
    );
    assert!(
        !late.closed_within(Duration::from_millis(200)),
        "nobody but the queue should hold it"
    );

    // The body trickles in over about a second, longer than the grace; the
    // answer still comes, with `Connection: close`, and the connection
    // ends after it.
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
    assert!(slow.closed_within(PROMPT));

    let status = worker.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "exited with {status}");
}

#[test]
fn a_connection_accepted_before_sigterm_is_answered_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let socket = listener();
    let mut worker = Worker::start(dir.path(), &socket, "unread");

    // Accepted by the worker, nothing sent yet: one whose request comes
    // shortly after the signal, and one that never sends anything.
    let mut early = Connection::open(worker.addr);
    let mut silent = Connection::open(worker.addr);
    queue::await_accepted(&socket, Duration::from_secs(5));

    let stopping = drain(&mut worker);
    std::thread::sleep(Duration::from_millis(150));
    let answer = early.request("GET", "/health", None, None);
    assert_last(&mut early, &answer);

    // A connection accepted and never used counts as idle from its accept:
    // closed once the grace has passed since the drain began.
    assert!(silent.closed_within(Duration::from_secs(10)));
    let closed = stopping.elapsed();
    assert!(
        closed + SLACK >= IDLE_GRACE,
        "closed {closed:?} after the drain began"
    );
    assert_exits_zero(&mut worker, stopping);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_only_after_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let socket = listener();
    let mut worker = Worker::start(dir.path(), &socket, "idle");

    let mut idle = Connection::open(worker.addr);
    let served = idle.request("GET", "/health", None, None);
    assert_eq!(served.status, 200);
    assert_ne!(served.header("connection"), Some("close"));

    let stopping = drain(&mut worker);
    assert!(idle.closed_within(Duration::from_secs(10)));
    let closed = stopping.elapsed();
    assert!(
        closed + SLACK >= IDLE_GRACE,
        "the idle connection was closed {closed:?} after the drain began, within the grace"
    );
    assert_exits_zero(&mut worker, stopping);
}

#[test]
fn requests_within_the_grace_are_answered_with_connection_close() {
    let dir = tempfile::tempdir().unwrap();
    let socket = listener();
    let mut worker = Worker::start(dir.path(), &socket, "grace");

    // Two keep-alive connections, each served once and idle at the signal.
    let mut reused = Connection::open(worker.addr);
    let mut partial = Connection::open(worker.addr);
    for conn in [&mut reused, &mut partial] {
        assert_eq!(conn.request("GET", "/health", None, None).status, 200);
    }

    let stopping = drain(&mut worker);
    std::thread::sleep(Duration::from_millis(300));

    // Within the grace: the start of a request head on one, a whole
    // request on the other.
    partial.send(b"GET /health HTTP/1.1\r\n");
    let first_bytes = Instant::now();
    let answer = reused.request("GET", "/health", None, None);
    assert_last(&mut reused, &answer);

    // The rest of the head comes after the grace counted from the drain,
    // but within the grace counted from its first bytes: still served.
    // (At least 650 ms after the drain began, 350 ms after those bytes.)
    std::thread::sleep(Duration::from_millis(350).saturating_sub(first_bytes.elapsed()));
    partial.send(b"Host: test\r\n\r\n");
    let answer = partial.read_response();
    assert_last(&mut partial, &answer);

    assert_exits_zero(&mut worker, stopping);
}
