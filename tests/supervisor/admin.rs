//! The admin listener (`admin_listen`): `/metrics` read by a Prometheus
//! text parser and checked against `/status`, `/status` against `corral
//! status --json`, `/health` through start, an errored app and a shutdown
//! with `shutdown_delay`, and the listener itself: read-only, bound before
//! anything starts, moved or closed by a reload.

use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use prometheus_parse::{Scrape, Value as Sample};
use serde_json::Value;

use crate::helper::{Corral, EVENT_TIMEOUT, corral_bin, get, get_json, send};

/// An app of two test workers behind the admin listener.
const TWO_WORKERS: &str = r#"
[supervisor]
admin_listen = "127.0.0.1:0"

[[apps]]
name = "api"
command = "{worker}"
instances = 2
listen = ["127.0.0.1:0"]
wait_ready = true
memory_check_interval = "200ms"
"#;

/// [`TWO_WORKERS`] with `lines` in place of its `admin_listen` line.
fn two_workers_with(lines: &str) -> String {
    TWO_WORKERS.replace("admin_listen = \"127.0.0.1:0\"", lines)
}

/// The address the admin listener is bound to, from its event.
fn admin_addr(corral: &mut Corral) -> SocketAddr {
    let event = corral.wait_message("admin listening");
    let bound = event["bound"].as_str().expect("a bound field");
    bound.parse().expect("a socket address")
}

/// `GET /health`: the status code and the health+json document.
fn health(admin: SocketAddr) -> (u16, Value) {
    let response = send(admin, "GET", "/health").expect("GET /health");
    assert_eq!(
        response.header("content-type"),
        Some("application/health+json"),
        "{response:?}"
    );
    let body = serde_json::from_str(&response.body).expect("a JSON body");
    (response.status, body)
}

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

/// The status document without what every memory sample changes.
fn without_samples(mut status: Value) -> Value {
    for app in status["apps"].as_array_mut().expect("apps") {
        for worker in app["workers"].as_array_mut().expect("workers") {
            let worker = worker.as_object_mut().expect("a worker object");
            worker.remove("memory_bytes");
            worker.remove("cpu_percent");
        }
    }
    status
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

/// Parses `text` as Prometheus does, and insists that every line was
/// understood: each sample line is a sample, each sample has a HELP and a
/// TYPE.
fn parse(text: &str) -> Scrape {
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parsed");
    let sample_lines = text.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(
        scrape.samples.len(),
        sample_lines,
        "unparsed lines in:\n{text}"
    );
    for sample in &scrape.samples {
        assert!(
            scrape.docs.contains_key(&sample.metric),
            "{} has no HELP",
            sample.metric
        );
        assert!(
            matches!(sample.value, Sample::Gauge(_) | Sample::Counter(_)),
            "{} has no TYPE: {:?}",
            sample.metric,
            sample.value
        );
    }
    scrape
}

/// The one sample of `metric` with `labels`.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
        .map(|s| match s.value {
            Sample::Gauge(v) | Sample::Counter(v) => v,
            _ => f64::NAN,
        })
        .collect();
    assert_eq!(found.len(), 1, "{metric} {labels:?}: {found:?}");
    found[0]
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
