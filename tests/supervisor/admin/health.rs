//! `/health`: 503 while an app is errored, and from the first moment of a
//! shutdown while the workers serve on through `shutdown_delay`.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::{admin_addr, health, parse, two_workers_with, value};
use crate::helper::{Corral, get};

#[test]
fn health_fails_with_503_while_an_app_is_errored() {
    let mut corral = Corral::start(
        r#"
        [supervisor]
        admin_listen = "127.0.0.1:0"

        [[apps]]
        name = "api"
        command = "{worker}"
        wait_ready = true

        [[apps]]
        name = "broken"
        command = "{worker}"
        max_restarts = 1
        [apps.env]
        TW_EXIT_AT_START = "3"
        "#,
    );
    let admin = admin_addr(&mut corral);
    corral.wait_until("api online and broken errored", |events| {
        let seen = |m: &str, app: &str| events.iter().any(|e| e["message"] == m && e["app"] == app);
        seen("worker online", "api") && seen("app errored", "broken")
    });
    let (code, body) = health(admin);
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["status"], "fail", "{body}");
    let output = body["output"].as_str().expect("why it fails");
    assert!(output.starts_with("broken: errored"), "{body}");
    assert_eq!(body["checks"]["broken:workers"][0]["status"], "fail");
    assert_eq!(body["checks"]["api:workers"][0]["status"], "pass");
    let scrape = parse(&get(admin, "/metrics").expect("GET /metrics").1);
    let errored = [("app", "broken"), ("state", "errored")];
    assert_eq!(value(&scrape, "corral_app_state", &errored), 1.0);
}

#[test]
fn health_fails_at_once_on_sigterm_while_the_workers_serve_through_shutdown_delay() {
    let delay = Duration::from_secs(3);
    let mut corral = Corral::start(&two_workers_with(
        "admin_listen = \"127.0.0.1:0\"\nshutdown_delay = \"3s\"",
    ));
    let admin = admin_addr(&mut corral);
    corral.wait_online();
    let app = corral.listen_addr();
    assert_eq!(health(admin).0, 200);
    let signalled = Instant::now();
    corral.signal(Signal::SIGTERM);
    corral.wait_for("the shutdown delay", |e| {
        e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("shutdown delay"))
    });
    let (code, body) = health(admin);
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["status"], "fail");
    assert_eq!(body["output"], "the supervisor is shutting down");
    for _ in 0..5 {
        let (code, body) = get(app, "/").expect("the workers still serve");
        assert_eq!(code, 200, "{body}");
    }
    assert!(
        signalled.elapsed() < delay,
        "the checks took the whole delay: the test proves nothing"
    );
    corral.wait_message("shutting down: stopping every worker");
    let waited = signalled.elapsed();
    assert!(waited >= delay, "workers signalled after {waited:?}");
    assert!(
        corral.events("worker stopped").is_empty(),
        "a worker stopped during the delay"
    );
    let status = corral.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "corral exited with {status}");
    let stopped = corral.events("worker stopped");
    assert_eq!(stopped.len(), 2, "{stopped:?}");
    assert!(
        stopped.iter().all(|e| e["status"] == "exit code 0"),
        "{stopped:?}"
    );
}

#[test]
fn a_second_sigterm_skips_the_shutdown_delay() {
    let mut corral = Corral::start(&two_workers_with(
        "admin_listen = \"127.0.0.1:0\"\nshutdown_delay = \"1h\"",
    ));
    admin_addr(&mut corral);
    corral.wait_online();
    corral.signal(Signal::SIGTERM);
    corral.wait_for("the shutdown delay", |e| {
        e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("shutdown delay"))
    });
    corral.signal(Signal::SIGTERM);
    corral.wait_message("second stop signal: shutdown delay skipped");
    let status = corral.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "corral exited with {status}");
    let stopped = corral.events("worker stopped");
    assert_eq!(stopped.len(), 2, "{stopped:?}");
    assert!(
        stopped.iter().all(|e| e["status"] == "exit code 0"),
        "the workers drained, none was killed: {stopped:?}"
    );
}
