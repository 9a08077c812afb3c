//! The workspace's own API server under the supervisor: cluster mode on one
//! SQLite file, a rolling reload under load, and a graceful stop, through the
//! shared port as a client sees them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::helper::{Corral, Load, alive, get, post_json, post_json_as};

/// Shown verbatim in docs/workers.md as the app's recipe.
pub const CONFIG: &str = r#"
[[apps]]
name = "api"
command = "{app}"
instances = 2
listen = ["127.0.0.1:0"]
wait_ready = true
listen_timeout = "20s"
kill_timeout = "15s"
[apps.env]
DATABASE_URL = "sqlite://data/app.db"
APP_LOG_FORMAT = "json"
"#;

#[test]
fn the_app_serves_in_cluster_mode_and_reloads_without_a_failed_request() {
    let mut corral = Corral::start(CONFIG);
    let old = corral.wait_online();
    let addr = corral.listen_addr();

    let (status, health) = get(addr, "/health").expect("health");
    assert_eq!(status, 200, "{health}");
    let account = r#"{"email":"ops@example.com","name":"Ops","password":"correct horse battery"}"#;
    let (status, body) = post_json(addr, "/api/auth/register", account).expect("register");
    assert_eq!(status, 201, "{body}");

    let load = Load::start_on(addr, "/api/tags", 4);
    corral.signal(Signal::SIGHUP);
    corral.wait_message("reload complete");
    let report = load.stop();
    assert!(
        report.failures.is_empty(),
        "failed requests during reload: {:?}",
        report.failures
    );
    assert!(report.ok > 0);
    assert!(
        old.iter().all(|&pid| !alive(pid)),
        "every old worker replaced"
    );

    let login = r#"{"email":"ops@example.com","password":"correct horse battery"}"#;
    let (status, body) = post_json(addr, "/api/auth/login", login).expect("login");
    assert_eq!(
        status, 200,
        "the account written before the reload is there: {body}"
    );

    corral.signal(Signal::SIGTERM);
    assert!(corral.wait_exit(Duration::from_secs(20)).success());
    let stopped = corral.events("worker stopped");
    assert_eq!(
        stopped.len(),
        4,
        "two old workers at the reload, two new at the stop: {stopped:?}"
    );
    assert!(
        stopped.iter().all(|e| e["status"] == "exit code 0"),
        "workers drained and exited 0: {stopped:?}"
    );
}

#[test]
fn thirty_reloads_under_load_fail_no_request_on_new_or_keep_alive_connections() {
    let mut corral = Corral::start(CONFIG);
    corral.wait_online();
    let addr = corral.listen_addr();
    // Neither client retries: a request that fails is counted, whatever
    // the cause (reset, early close, an error status).
    let fresh = Load::start_on(addr, "/api/tags", 4);
    let kept = Load::start_keep_alive_on(addr, "/api/tags", 64);
    for _ in 0..30 {
        corral.signal(Signal::SIGHUP);
        corral.wait_message("reload complete");
    }
    let (fresh, kept) = (fresh.stop(), kept.stop());
    assert!(
        fresh.failures.is_empty(),
        "new connections: {}",
        fresh.summary()
    );
    assert!(kept.failures.is_empty(), "keep-alive: {}", kept.summary());
    assert!(fresh.ok > 0 && kept.ok > 0);
    assert_eq!(
        corral
            .events("reload stopped; the old workers keep serving")
            .len(),
        0
    );
    assert_eq!(
        corral.events("worker stopped").len(),
        60,
        "every old worker drained"
    );
}

/// Every write of the workers goes to the one that hosts the SQLite file's
/// writer; each reload drains that host, and the writes the other workers
/// had sent it must be answered or run where they were made.
#[test]
fn reloads_under_a_write_load_fail_no_write_and_lose_none() {
    let mut corral = Corral::start(CONFIG);
    corral.wait_online();
    let addr = corral.listen_addr();
    let account =
        r#"{"email":"writer@example.com","name":"Writer","password":"correct horse battery"}"#;
    let (status, body) = post_json(addr, "/api/auth/register", account).expect("register");
    assert_eq!(status, 201, "{body}");
    let login = r#"{"email":"writer@example.com","password":"correct horse battery"}"#;
    let (status, body) = post_json(addr, "/api/auth/login", login).expect("login");
    assert_eq!(status, 200, "{body}");
    let session: Value = serde_json::from_str(&body).expect("JSON");
    let token: Arc<str> = session["data"]["token"].as_str().expect("a token").into();

    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (stop, token) = (Arc::clone(&stop), Arc::clone(&token));
            std::thread::spawn(move || {
                let (mut created, mut failures) = (Vec::new(), Vec::new());
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let post = format!(
                        r#"{{"title":"Reload {writer} {n}","content":"Written during a reload.","status":"published"}}"#
                    );
                    match post_json_as(addr, "/api/posts", &post, &token) {
                        Ok((201, body)) => {
                            let post: Value = serde_json::from_str(&body).expect("JSON");
                            created.push(post["data"]["slug"].as_str().expect("a slug").to_owned());
                        }
                        Ok((status, body)) => failures.push(format!("{status} {body}")),
                        Err(error) => failures.push(error.to_string()),
                    }
                }
                (created, failures)
            })
        })
        .collect();
    for _ in 0..10 {
        corral.signal(Signal::SIGHUP);
        corral.wait_message("reload complete");
    }
    stop.store(true, Ordering::Relaxed);
    let (mut created, mut failures) = (Vec::new(), Vec::new());
    for writer in writers {
        let (ok, failed) = writer.join().expect("writer thread");
        created.extend(ok);
        failures.extend(failed);
    }
    assert!(
        failures.is_empty(),
        "failed writes: {failures:?}; the workers said: {:?}",
        corral
            .read_log("api-out.log")
            .lines()
            .filter(|line| line.contains(r#""level":"ERROR""#))
            .collect::<Vec<_>>()
    );
    assert!(created.len() > 10, "writes went on: {}", created.len());
    for slug in &created {
        let (status, body) = get(addr, &format!("/api/posts/{slug}")).expect("read back");
        assert_eq!(status, 200, "post {slug} acknowledged, then gone: {body}");
    }
    corral.signal(Signal::SIGTERM);
    assert!(corral.wait_exit(Duration::from_secs(20)).success());
}
