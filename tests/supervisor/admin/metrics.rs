//! `/metrics` parsed as Prometheus parses it and checked against `/status`;
//! `/status` against the control socket's document.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{TWO_WORKERS, admin_addr, parse, value, without_samples};
use crate::helper::{Corral, EVENT_TIMEOUT, corral_bin, get_json, send};

/// `/status` every 20 ms until `ready` holds of it.
fn status_until(admin: SocketAddr, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        let status = get_json(admin, "/status");
        if ready(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "never {what}: {status}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `/metrics` scrape with `/status` read just before and just after it
/// and equal both times, so the scrape shows the same samples.
fn consistent_scrape(admin: SocketAddr) -> (String, Value) {
    for _ in 0..50 {
        let before = get_json(admin, "/status");
        let response = send(admin, "GET", "/metrics").expect("GET /metrics");
        assert_eq!(response.status, 200, "{response:?}");
        assert_eq!(
            response.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let after = get_json(admin, "/status");
        if before["apps"] == after["apps"] {
            return (response.body, after);
        }
    }
    panic!("the status changed during every one of 50 scrapes");
}

/// The `TcpExt` counter `field` of this network namespace.
fn tcp_ext(field: &str) -> f64 {
    let text = std::fs::read_to_string("/proc/net/netstat").expect("read /proc/net/netstat");
    let mut rows = text.lines().filter_map(|l| l.strip_prefix("TcpExt:"));
    let (names, values) = (rows.next().expect("names"), rows.next().expect("values"));
    let at = names
        .split_whitespace()
        .position(|n| n == field)
        .expect(field);
    values
        .split_whitespace()
        .nth(at)
        .expect("a value")
        .parse()
        .expect("a number")
}

#[test]
fn metrics_parse_as_prometheus_text_and_agree_with_status() {
    let mut corral = Corral::start(TWO_WORKERS);
    let admin = admin_addr(&mut corral);
    corral.wait_online();
    status_until(admin, "sampled", |s| {
        s["apps"][0]["workers"]
            .as_array()
            .is_some_and(|ws| ws.iter().all(|w| w["cpu_percent"].is_number()))
    });
    let overflows_before = tcp_ext("ListenOverflows");
    let (text, status) = consistent_scrape(admin);
    let overflows_after = tcp_ext("ListenOverflows");
    let scraped_at = chrono::Utc::now();
    let scrape = parse(&text);

    let app = &status["apps"][0];
    let workers = app["workers"].as_array().expect("workers");
    assert_eq!(workers.len(), 2, "{status}");
    for w in workers {
        let (instance, pid) = (w["instance"].to_string(), w["pid"].to_string());
        let labels = [
            ("app", "api"),
            ("corral_instance", &*instance),
            ("pid", &*pid),
        ];
        assert_eq!(value(&scrape, "corral_worker_up", &labels), 1.0);
        assert_eq!(
            value(&scrape, "corral_worker_memory_bytes", &labels),
            w["memory_bytes"].as_f64().expect("sampled")
        );
        let cpu = value(&scrape, "corral_worker_cpu_ratio", &labels);
        let percent = w["cpu_percent"].as_f64().expect("sampled");
        assert!((cpu * 100.0 - percent).abs() < 1e-6, "{cpu} vs {percent}%");
        let started: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(w["started_at"].clone()).expect("a timestamp");
        let age = (scraped_at - started).as_seconds_f64();
        let uptime = value(&scrape, "corral_worker_uptime_seconds", &labels);
        assert!(uptime > 0.0 && uptime <= age, "uptime {uptime} of {age}");
        let slot = [("app", "api"), ("corral_instance", &*instance)];
        assert_eq!(
            value(&scrape, "corral_worker_restarts_total", &slot),
            w["restarts"].as_f64().expect("restarts")
        );
    }
    let api = [("app", "api")];
    assert_eq!(value(&scrape, "corral_app_desired_workers", &api), 2.0);
    assert_eq!(value(&scrape, "corral_app_online_workers", &api), 2.0);
    let online = [("app", "api"), ("state", "online")];
    assert_eq!(value(&scrape, "corral_app_state", &online), 1.0);
    for stream in ["out", "err"] {
        let labels = [("app", "api"), ("stream", stream)];
        assert_eq!(
            value(&scrape, "corral_app_dropped_log_lines_total", &labels),
            app["dropped_lines"][stream].as_f64().expect("a count")
        );
    }
    let started = status["supervisor"]["started_at"].clone();
    let started: chrono::DateTime<chrono::Utc> = serde_json::from_value(started).expect("time");
    assert_eq!(
        value(&scrape, "process_start_time_seconds", &[]),
        started.timestamp() as f64
    );
    let rss = value(&scrape, "process_resident_memory_bytes", &[]);
    assert!(rss > 1_000_000.0, "supervisor RSS {rss}");
    let fds = value(&scrape, "process_open_fds", &[]);
    assert!(fds >= 5.0, "supervisor fds {fds}");
    let overflows = value(&scrape, "corral_tcp_listen_overflows_total", &[]);
    assert!(
        (overflows_before..=overflows_after).contains(&overflows),
        "{overflows} not within {overflows_before}..={overflows_after}"
    );
    value(&scrape, "corral_tcp_listen_drops_total", &[]);
    let version = status["supervisor"]["version"].as_str().expect("version");
    assert_eq!(
        value(&scrape, "corral_build_info", &[("version", version)]),
        1.0
    );
}

#[test]
fn status_is_the_control_sockets_document() {
    let mut corral = Corral::start(TWO_WORKERS);
    let admin = admin_addr(&mut corral);
    corral.wait_online();
    let output = Command::new(corral_bin())
        .args(["status", "--json"])
        .current_dir(corral.dir())
        .output()
        .expect("run corral status --json");
    assert!(output.status.success(), "{output:?}");
    let control: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let admin_doc = get_json(admin, "/status");
    assert_eq!(without_samples(admin_doc), without_samples(control));
}
