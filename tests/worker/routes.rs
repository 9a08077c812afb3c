//! The HTTP routes the end-to-end tests call: who answered, slow requests for
//! drain tests, `/info` for what the worker inherited, log output, a crash,
//! and the misbehaviours the supervisor must notice: leaked memory, a short
//! memory spike, a failing or hanging health check, heartbeats that stop.

use std::io::Write;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::http::{Request, query_param};
use crate::{Worker, info, json, spike};

/// Routes one request; returns the status and the JSON body, or `None` when
/// the request must never be answered (the `hang` health mode).
pub fn handle(worker: &Worker, request: &Request, request_fd: RawFd) -> Option<(u16, String)> {
    if request.method != "GET" {
        return Some((405, json::error("method not allowed")));
    }
    if request.path == "/health" {
        return worker.health.answer();
    }
    Some(answer(worker, request, request_fd))
}

/// The routes that always answer.
fn answer(worker: &Worker, request: &Request, request_fd: RawFd) -> (u16, String) {
    let pid = worker.pid;
    match request.path.as_str() {
        "/" => (
            200,
            format!(
                "{{\"pid\":{pid},\"instance\":{}}}",
                json::string(&worker.instance)
            ),
        ),
        "/slow" => match number(&request.query, "ms") {
            Ok(ms) => {
                // Tests wait for this line (in the app's out log) to know the
                // request is in flight before they signal the supervisor.
                println!("slow request started pid={pid} ms={ms}");
                let _ = std::io::stdout().flush();
                std::thread::sleep(Duration::from_millis(ms));
                (200, format!("{{\"pid\":{pid},\"slept_ms\":{ms}}}"))
            }
            Err(body) => (400, body),
        },
        "/info" => (200, info::body(worker, request_fd)),
        "/log" => match number(&request.query, "n") {
            Ok(n) => {
                let mut out = std::io::stdout().lock();
                for i in 0..n {
                    let _ = writeln!(out, "log line {i} pid={pid}");
                }
                let _ = out.flush();
                (200, format!("{{\"pid\":{pid},\"lines\":{n}}}"))
            }
            Err(body) => (400, body),
        },
        "/crash" => {
            eprintln!("test-worker crashing on request pid={pid}");
            std::process::exit(3);
        }
        "/health/set" => worker.health.set(pid, &request.query),
        "/leak" => match number(&request.query, "mb") {
            Ok(mb) => {
                let total = worker.leak.grow(mb);
                (200, format!("{{\"pid\":{pid},\"leaked_mb\":{total}}}"))
            }
            Err(body) => (400, body),
        },
        "/spike" => spike_route(pid, &request.query),
        "/watchdog/stop" => {
            worker.heartbeats.store(false, Ordering::SeqCst);
            eprintln!("test-worker watchdog heartbeats stopped pid={pid}");
            (200, format!("{{\"pid\":{pid},\"watchdog\":\"stopped\"}}"))
        }
        _ => (404, json::error("not found")),
    }
}

/// `GET /spike?mb=N&ms=M`: answers once the memory is given back.
fn spike_route(pid: u32, query: &str) -> (u16, String) {
    let (mb, ms) = match (number(query, "mb"), number(query, "ms")) {
        (Ok(mb), Ok(ms)) => (mb, ms),
        (Err(body), _) | (_, Err(body)) => return (400, body),
    };
    match spike::spike(mb, ms) {
        Ok(()) => (
            200,
            format!("{{\"pid\":{pid},\"spiked_mb\":{mb},\"held_ms\":{ms}}}"),
        ),
        Err(e) => (500, json::error(&format!("cannot map {mb} MiB: {e}"))),
    }
}

/// A required non-negative number from the query string, or the 400 body.
fn number(query: &str, key: &str) -> Result<u64, String> {
    query_param(query, key)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| json::error(&format!("query parameter {key} must be a number")))
}
