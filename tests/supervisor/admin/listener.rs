//! The listener itself: read-only, bound before anything starts, closed,
//! moved or kept by a reload.

use std::net::TcpListener;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::{TWO_WORKERS, admin_addr, health, two_workers_with, without_samples};
use crate::helper::{Corral, get, get_json, send};

#[test]
fn the_admin_listener_is_read_only() {
    let mut corral = Corral::start(TWO_WORKERS);
    let admin = admin_addr(&mut corral);
    corral.wait_online();
    let (code, body) = health(admin);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "pass", "{body}");
    assert_eq!(body["checks"]["api:workers"][0]["observedValue"], 2);
    let before = without_samples(get_json(admin, "/status"));
    for (method, path) in [
        ("POST", "/health"),
        ("PUT", "/metrics"),
        ("DELETE", "/status"),
        ("POST", "/status"),
    ] {
        let response = send(admin, method, path).expect(method);
        assert_eq!(response.status, 405, "{method} {path}: {response:?}");
        assert_eq!(response.header("allow"), Some("GET, HEAD"), "{response:?}");
    }
    for path in ["/", "/v1/status", "/shutdown"] {
        let response = send(admin, "GET", path).expect("GET");
        assert_eq!(response.status, 404, "{path}: {response:?}");
    }
    for path in ["/health", "/metrics", "/status"] {
        let response = send(admin, "HEAD", path).expect("HEAD");
        assert_eq!(response.status, 200, "{path}: {response:?}");
        assert_eq!(response.body, "", "HEAD {path} sent a body");
        assert!(response.header("content-length").is_some(), "{response:?}");
    }
    assert_eq!(without_samples(get_json(admin, "/status")), before);
}

#[test]
fn a_taken_admin_address_refuses_to_start_with_exit_2() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("address");
    let mut corral = Corral::start(&format!(
        "[supervisor]\nadmin_listen = \"{addr}\"\n\n\
         [[apps]]\nname = \"api\"\ncommand = \"{{worker}}\"\n"
    ));
    let status = corral.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(2), "{status}");
    let said = corral.plain_lines().join("\n");
    assert!(
        said.contains(&format!("cannot listen on {addr} (admin_listen)"))
            && said.contains("give admin_listen another one"),
        "{said}"
    );
    assert_eq!(corral.plain_lines().len(), 1, "one sentence: {said}");
    assert!(corral.spawned_pids().is_empty(), "a worker was started");
}

#[test]
fn a_reload_closes_moves_or_keeps_the_admin_listener() {
    let mut corral = Corral::start(TWO_WORKERS);
    let first = admin_addr(&mut corral);
    corral.wait_online();
    corral.write_config(&two_workers_with(""));
    corral.signal(Signal::SIGHUP);
    corral.wait_message("admin listener closed");
    assert!(get(first, "/health").is_err(), "{first} still answers");

    corral.write_config(TWO_WORKERS);
    corral.signal(Signal::SIGHUP);
    let second = admin_addr(&mut corral);
    assert_eq!(health(second).0, 200);

    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("address");
    corral.write_config(&two_workers_with(&format!("admin_listen = \"{addr}\"")));
    corral.signal(Signal::SIGHUP);
    let refused = corral.wait_for("the reload refused", |e| {
        e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("reload refused"))
    });
    let message = refused["message"].as_str().expect("message");
    assert!(message.contains("admin_listen"), "{message}");
    assert_eq!(health(second).0, 200, "the admin listener in force stopped");
}
