//! The process-wide Prometheus recorder behind the `metrics` macros.
//!
//! Request latency is exported as a real Prometheus histogram (`_bucket`,
//! `_sum`, `_count`), not a summary: bucket counters can be summed across
//! workers and machines, so `histogram_quantile` over
//! `sum by (le, route) (rate(http_request_duration_seconds_bucket[5m]))`
//! gives the latency of the whole service, which per-process quantiles
//! never can.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::task::JoinHandle;

/// The name of the request latency histogram.
pub const REQUEST_DURATION: &str = "http_request_duration_seconds";

/// Upper bounds (seconds) of the latency buckets: from a cached read
/// (about a millisecond) through a password hash (tens of milliseconds) to
/// a request stuck behind a busy database (seconds).
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// How often recorded samples are folded into the exported state. Without
/// it, samples would pile up in memory on a worker nobody scrapes.
const UPKEEP_PERIOD: Duration = Duration::from_secs(5);

/// The handle that renders `/metrics`. The recorder is global to the
/// process (the `metrics` facade allows one), so it is installed once, on
/// first use, whatever number of routers a process (or a test) builds.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.into()), &LATENCY_BUCKETS)
                .expect("the latency buckets are not empty")
                .install_recorder()
                .expect("the Prometheus recorder is installed once per process")
        })
        .clone()
}

/// Counts one request and records its latency, labelled by method, route
/// template and status.
///
/// The handles of each label set are kept per thread after their first
/// use: the `metrics` macros would otherwise build the labels' strings and
/// look the key up in the recorder's registry on every request, a few
/// percent of a cheap read. The label sets are few (methods are the
/// standard ones or `OTHER`, routes are templates), so the cache stays
/// small.
pub fn record_request(method: &'static str, route: &str, status: u16, latency: Duration) {
    /// The handles of one method and status of a route.
    struct Handles {
        method: &'static str,
        status: u16,
        count: Counter,
        duration: Histogram,
    }
    thread_local! {
        static HANDLES: RefCell<HashMap<Box<str>, Vec<Handles>>> = RefCell::default();
    }
    HANDLES.with_borrow_mut(|routes| {
        let sets = match routes.get_mut(route) {
            Some(sets) => sets,
            None => routes.entry(route.into()).or_default(),
        };
        let at = match sets
            .iter()
            .position(|h| h.method == method && h.status == status)
        {
            Some(at) => at,
            None => {
                let labels = [
                    ("method", method.to_owned()),
                    ("route", route.to_owned()),
                    ("status", status.to_string()),
                ];
                sets.push(Handles {
                    method,
                    status,
                    count: metrics::counter!("http_requests_total", &labels),
                    duration: metrics::histogram!(REQUEST_DURATION, &labels),
                });
                sets.len() - 1
            }
        };
        sets[at].count.increment(1);
        sets[at].duration.record(latency.as_secs_f64());
    });
}

/// Starts the periodic upkeep of the recorder on the current runtime (the
/// exporter's own HTTP listener, which would do it, is not used: `/metrics`
/// is served by our routers). Dropping the handle does not stop the task;
/// it ends with the runtime.
pub fn spawn_upkeep() -> JoinHandle<()> {
    let handle = handle();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(UPKEEP_PERIOD);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            handle.run_upkeep();
        }
    })
}
