//! The access log: one line per request with its id, written by a thread
//! of its own in batches, every line out before the process exits on
//! SIGTERM; `APP_ACCESS_LOG=off` leaves the lines out and nothing else.

use std::time::Duration;

use super::http::Connection;
use super::worker::{Worker, listener};

/// Sends `count` pipelined requests with ids `{prefix}-0`... on one
/// connection, then reads every answer.
fn pipelined(worker: &Worker, prefix: &str, count: usize) {
    let mut client = Connection::open(worker.addr);
    let mut burst = String::new();
    for i in 0..count {
        burst.push_str(&format!(
            "GET /health HTTP/1.1\r\nHost: test\r\nX-Request-Id: {prefix}-{i}\r\n\r\n"
        ));
    }
    client.send(burst.as_bytes());
    for i in 0..count {
        let response = client.read_response();
        assert_eq!(response.status, 200);
        assert_eq!(
            response.header("x-request-id"),
            Some(format!("{prefix}-{i}").as_str())
        );
    }
}

#[test]
fn every_line_is_written_whole_and_in_order_before_the_exit() {
    let dir = tempfile::tempdir().unwrap();
    let socket = listener();
    let worker = Worker::start(dir.path(), &socket, "flush");
    pipelined(&worker, "flush", 2000);
    // At once: the lines of the last batch are still in the buffer.
    worker.signal(libc::SIGTERM);
    let mut worker = worker;
    assert_eq!(worker.wait_exit(Duration::from_secs(10)).code(), Some(0));
    let log = std::fs::read_to_string(dir.path().join("flush.log")).unwrap();
    let ids: Vec<String> = log
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("whole JSON lines"))
        .filter(|line| line["message"] == "finished processing request")
        .map(|line| {
            assert_eq!(
                (line["status"].as_u64(), line["span"]["route"].as_str()),
                (Some(200), Some("/health"))
            );
            line["span"]["request_id"].as_str().unwrap().to_owned()
        })
        .collect();
    let expected: Vec<String> = (0..2000).map(|i| format!("flush-{i}")).collect();
    assert_eq!(ids, expected);
    assert!(
        log.lines().last().unwrap().contains("drained; exiting"),
        "the lines logged at the exit come last, after every access line"
    );
}

#[test]
fn app_access_log_off_leaves_out_only_the_access_lines() {
    let dir = tempfile::tempdir().unwrap();
    let socket = listener();
    let mut worker = Worker::start_with(
        dir.path(),
        &[(&socket, "http")],
        "off",
        &[("APP_ACCESS_LOG", "off")],
    );
    pipelined(&worker, "quiet", 10);
    worker.signal(libc::SIGTERM);
    assert_eq!(worker.wait_exit(Duration::from_secs(10)).code(), Some(0));
    let log = std::fs::read_to_string(dir.path().join("off.log")).unwrap();
    assert!(!log.contains("quiet-"), "{log}");
    assert!(
        log.contains("serving on") && log.contains("drained; exiting"),
        "{log}"
    );
}
