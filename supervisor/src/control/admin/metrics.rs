//! `/metrics`: the fleet in the Prometheus text format (0.0.4), encoded by
//! `prometheus-client`. The families are built afresh at each scrape from
//! one status snapshot and the /proc readings of that moment, so a scrape
//! agrees with `/status` read at the same instant and nothing is kept
//! between scrapes (a worker that is gone is simply no longer listed).
//!
//! docs/monitoring.md lists every metric with its labels: `app`, `pid`, and
//! `corral_instance` for the worker's slot (`CORRAL_INSTANCE`; the status
//! document's `instance`). Not `instance`: Prometheus gives every scraped
//! series an `instance` label of its own (the target's host:port), and a
//! scraped `instance` would be renamed `exported_instance`, or with
//! `honor_labels` overwrite the target's and mix up hosts.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::atomic::AtomicU64;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, prometheus_text};
use prometheus_client::metrics::TypedMetric;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::host::Host;
use crate::app::{AppState, Health, WorkerState};
use crate::control::StatusDoc;

/// A gauge with a fractional value.
type Float = Gauge<f64, AtomicU64>;

/// Every app state, so `corral_app_state` lists each one (1 for the
/// current, 0 for the others) and an alert can match on the state.
const APP_STATES: [AppState; 5] = [
    AppState::Launching,
    AppState::Online,
    AppState::Errored,
    AppState::Stopping,
    AppState::Stopped,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkerLabels {
    app: String,
    corral_instance: usize,
    pid: i32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SlotLabels {
    app: String,
    corral_instance: usize,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppLabels {
    app: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    app: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    app: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabels {
    app: String,
    stream: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: String,
}

/// Registers a family under `name`; counters get `_total` appended by the
/// encoder. `help` ends without a full stop: the encoder adds one.
fn family<L, M>(registry: &mut Registry, name: &str, help: &str) -> Family<L, M>
where
    L: Clone + Debug + Hash + Eq + EncodeLabelSet + Send + Sync + 'static,
    M: EncodeMetric + TypedMetric + Default + Debug + Send + Sync + 'static,
{
    let family = Family::<L, M>::default();
    registry.register(name, help, family.clone());
    family
}

/// The text of a scrape of `doc` and `host` at `now`.
pub(super) fn render(
    doc: &StatusDoc,
    host: &Host,
    now: DateTime<Utc>,
) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    workers(&mut registry, doc, now);
    apps(&mut registry, doc);
    supervisor(&mut registry, doc);
    host.register(&mut registry);
    let mut text = String::new();
    prometheus_text::encode(&mut text, &registry)?;
    Ok(text)
}

fn workers(r: &mut Registry, doc: &StatusDoc, now: DateTime<Utc>) {
    let up: Family<WorkerLabels, Gauge> = family(
        r,
        "corral_worker_up",
        "1 while the worker is online (serving), 0 while it launches, is unresponsive or drains",
    );
    let uptime: Family<WorkerLabels, Float> = family(
        r,
        "corral_worker_uptime_seconds",
        "Seconds since the worker was spawned",
    );
    let memory: Family<WorkerLabels, Gauge> = family(
        r,
        "corral_worker_memory_bytes",
        "PSS of the worker's whole process tree at the last sample (memory_check_interval), in bytes",
    );
    let cpu: Family<WorkerLabels, Float> = family(
        r,
        "corral_worker_cpu_ratio",
        "CPU time of the worker's whole process tree between its last two samples, per second of wall time (1 = one CPU busy)",
    );
    let healthy: Family<WorkerLabels, Gauge> = family(
        r,
        "corral_worker_healthy",
        "1 if the worker's last health check passed, 0 if it failed; absent before the first answer and without health_check",
    );
    let restarts: Family<SlotLabels, Counter> = family(
        r,
        "corral_worker_restarts",
        "Workers started in this instance's slot in place of another since the app started",
    );
    for app in &doc.apps {
        for w in &app.workers {
            let labels = WorkerLabels {
                app: app.name.clone(),
                corral_instance: w.instance,
                pid: w.pid,
            };
            up.get_or_create(&labels)
                .set(i64::from(w.state == WorkerState::Online));
            let age = (now - w.started_at).num_milliseconds().max(0);
            uptime.get_or_create(&labels).set(age as f64 / 1000.0);
            if let Some(bytes) = w.memory_bytes {
                memory.get_or_create(&labels).set(saturating(bytes));
            }
            if let Some(percent) = w.cpu_percent {
                cpu.get_or_create(&labels).set(percent / 100.0);
            }
            if let Some(health) = w.health.and_then(passed) {
                healthy.get_or_create(&labels).set(i64::from(health));
            }
            let slot = SlotLabels {
                app: app.name.clone(),
                corral_instance: w.instance,
            };
            // The workers of a slot (a replacement and the one it replaces)
            // share its count: set it once.
            if restarts.get(&slot).is_none() {
                restarts.get_or_create(&slot).inc_by(u64::from(w.restarts));
            }
        }
    }
}

fn apps(r: &mut Registry, doc: &StatusDoc) {
    let desired: Family<AppLabels, Gauge> = family(
        r,
        "corral_app_desired_workers",
        "Workers the config (or the last `corral scale`) asks for",
    );
    let online: Family<AppLabels, Gauge> =
        family(r, "corral_app_online_workers", "Workers online now");
    let state: Family<StateLabels, Gauge> = family(
        r,
        "corral_app_state",
        "1 for the app's current state (launching, online, errored, stopping, stopped), 0 for the others",
    );
    let restarts: Family<ReasonLabels, Counter> = family(
        r,
        "corral_app_restarts",
        "Workers started in place of others since the app started, by reason (crash, reload, scale, memory, health, watchdog, manual)",
    );
    let dropped: Family<StreamLabels, Counter> = family(
        r,
        "corral_app_dropped_log_lines",
        "Log lines of the workers that the log writer dropped because the disk could not keep up, by stream (out, err)",
    );
    for app in &doc.apps {
        let labels = AppLabels {
            app: app.name.clone(),
        };
        desired.get_or_create(&labels).set(app.desired as i64);
        online.get_or_create(&labels).set(app.online as i64);
        for each in APP_STATES {
            let labels = StateLabels {
                app: app.name.clone(),
                state: each.to_string(),
            };
            state
                .get_or_create(&labels)
                .set(i64::from(each == app.state));
        }
        for (reason, &count) in &app.restarts {
            let labels = ReasonLabels {
                app: app.name.clone(),
                reason: reason.as_str(),
            };
            restarts.get_or_create(&labels).inc_by(u64::from(count));
        }
        for (stream, count) in [
            ("out", app.dropped_lines.out),
            ("err", app.dropped_lines.err),
        ] {
            let labels = StreamLabels {
                app: app.name.clone(),
                stream,
            };
            dropped.get_or_create(&labels).inc_by(count);
        }
    }
}

fn supervisor(r: &mut Registry, doc: &StatusDoc) {
    let info: Family<VersionLabels, Gauge> = family(
        r,
        "corral_build_info",
        "Always 1; the label says corral's version",
    );
    info.get_or_create(&VersionLabels {
        version: doc.supervisor.version.clone(),
    })
    .set(1);
    let start: Gauge = Gauge::default();
    r.register(
        "process_start_time_seconds",
        "When the supervisor started, in seconds since the Unix epoch",
        start.clone(),
    );
    start.set(doc.supervisor.started_at.timestamp());
}

/// A health check's answer as `corral_worker_healthy`; none yet is none.
fn passed(health: Health) -> Option<bool> {
    match health {
        Health::Pending => None,
        Health::Pass => Some(true),
        Health::Fail => Some(false),
    }
}

/// `n` as a gauge value.
pub(super) fn saturating(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
