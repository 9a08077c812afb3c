//! The rest of the process contract: a socket named `health` serves only
//! `/health` and `/metrics`, `WATCHDOG_USEC` starts the `WATCHDOG=1`
//! heartbeat, and a request's id is in that request's log line on stdout.

use std::time::Duration;

use super::http::Connection;
use super::worker::{Worker, listener};

#[test]
fn health_socket_watchdog_and_request_ids_in_logs() {
    let dir = tempfile::tempdir().unwrap();
    let (api, ops) = (listener(), listener());
    let mut worker = Worker::start_with(
        dir.path(),
        &[(&api, "http"), (&ops, "health")],
        "contract",
        &[("WATCHDOG_USEC", "200000")],
    );
    worker.await_notify("WATCHDOG=1", Duration::from_secs(5));
    worker.await_notify("WATCHDOG=1", Duration::from_secs(5));

    let mut probe = Connection::open(ops.local_addr().unwrap());
    let health = probe.request("GET", "/health", None, None);
    assert_eq!(health.status, 200);
    assert_eq!(
        health.header("content-type"),
        Some("application/health+json")
    );
    assert_eq!(probe.request("GET", "/metrics", None, None).status, 200);
    let api_on_ops = probe.request("GET", "/api/tags", None, None);
    assert_eq!(
        (api_on_ops.status, api_on_ops.header("content-type")),
        (404, Some("application/problem+json")),
        "the health socket serves no API"
    );

    let mut client = Connection::open(worker.addr);
    client.send(b"GET /api/tags HTTP/1.1\r\nHost: test\r\nX-Request-Id: contract-42\r\n\r\n");
    let tags = client.read_response();
    assert_eq!(
        (tags.status, tags.header("x-request-id")),
        (200, Some("contract-42"))
    );
    let generated = client.request("GET", "/api/nope", None, None);
    let generated = generated.header("x-request-id").unwrap().to_owned();

    worker.signal(libc::SIGTERM);
    assert_eq!(worker.wait_exit(Duration::from_secs(10)).code(), Some(0));
    let log = std::fs::read_to_string(dir.path().join("contract.log")).unwrap();
    for id in ["contract-42", generated.as_str()] {
        let line = log
            .lines()
            .find(|line| line.contains(id))
            .unwrap_or_else(|| panic!("no log line has {id}:\n{log}"));
        let line: serde_json::Value = serde_json::from_str(line).expect("JSON log lines");
        assert_eq!(line["span"]["request_id"], id, "{line}");
    }
}
