//! The admin listener (`admin_listen`) end to end: `/metrics` read by a
//! Prometheus text parser and checked against `/status`, `/status` against
//! `corral status --json` ([`metrics`]); `/health` through start, an
//! errored app and a shutdown with `shutdown_delay` ([`health`]); the
//! listener itself: read-only, bound before anything starts, moved or
//! closed by a reload ([`listener`]).

mod health;
mod listener;
mod metrics;

use std::net::SocketAddr;

use prometheus_parse::{Scrape, Value as Sample};
use serde_json::Value;

use crate::helper::{Corral, send};

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
