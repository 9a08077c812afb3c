//! `/health` and `/health/live` (GET and HEAD) and `/metrics`, served on the public router and
//! on the private ops router alike.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::business::{Check, HealthReport, HealthStatus, Rendered};
use crate::presentation::AppState;

/// The media type of `/health` (IETF draft `draft-inadarei-api-health-check`).
pub const HEALTH_JSON: &str = "application/health+json";
/// The Prometheus text exposition format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Health<'a> {
    status: &'static str,
    version: &'a str,
    service_id: &'a str,
    checks: Map<String, Value>,
}

/// The health report: 200 for `pass`/`warn`, 503 for `fail` (database down).
/// The business layer hands the same report to every probe within its
/// freshness window, rendered once, so a probe (or a benchmark of
/// `/health`) costs no JSON work in between.
pub async fn health(State(state): State<AppState>) -> Response {
    let report = state.services().health.check().await;
    let body = report
        .rendered(|report| render(&state, report))
        .body
        .clone();
    let code = if report.value().status == HealthStatus::Fail {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (
        code,
        [(CONTENT_TYPE, HEALTH_JSON), (CACHE_CONTROL, "no-store")],
        body,
    )
        .into_response()
}

/// Liveness: 200 with a `pass` document whenever this process answers,
/// whatever its dependencies say. It is what a supervisor should probe
/// (`health_check = { path = "/health/live" }`): replacing a worker does
/// not bring a database back, so a probe of `/health` would turn an outage
/// into a restart storm. Balancers and monitoring read `/health`.
pub async fn live(State(state): State<AppState>) -> Response {
    let body = Health {
        status: status_name(HealthStatus::Pass),
        version: state.version(),
        service_id: state.service_id(),
        checks: Map::new(),
    };
    (
        StatusCode::OK,
        [(CONTENT_TYPE, HEALTH_JSON), (CACHE_CONTROL, "no-store")],
        serde_json::to_vec(&body).unwrap_or_default(),
    )
        .into_response()
}

/// The health+json document of `report` (no ETag: it is never cached).
/// Version and service id are this process's, and each process has its
/// own services, so the rendering still depends on the report alone.
fn render(state: &AppState, report: &HealthReport) -> Rendered {
    let mut checks = Map::new();
    for check in &report.checks {
        let entries = checks
            .entry(check.name)
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(entries) = entries {
            entries.push(check_json(check));
        }
    }
    let body = Health {
        status: status_name(report.status),
        version: state.version(),
        service_id: state.service_id(),
        checks,
    };
    Rendered {
        body: serde_json::to_vec(&body).unwrap_or_default().into(),
        tag: None,
    }
}

fn check_json(check: &Check) -> Value {
    let millis = (check.observed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
    let mut entry = json!({
        "componentType": check.component_type,
        "observedValue": millis,
        "observedUnit": "ms",
        "status": status_name(check.status),
        "time": rfc3339(check.time),
    });
    if let (Some(id), Value::Object(fields)) = (&check.component_id, &mut entry) {
        fields.insert("componentId".into(), Value::String(id.clone()));
    }
    entry
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn status_name(status: HealthStatus) -> &'static str {
    match status {
        HealthStatus::Pass => "pass",
        HealthStatus::Warn => "warn",
        HealthStatus::Fail => "fail",
    }
}

/// Prometheus text: the request metrics, cache hits and misses, and the
/// database pool gauges (refreshed at each scrape).
pub async fn metrics(State(state): State<AppState>) -> Response {
    let health = &state.services().health;
    let usage = health.pool_usage();
    let backend = health.backend();
    let in_use = f64::from(usage.size.saturating_sub(usage.idle));
    metrics::gauge!("db_pool_connections", "state" => "in_use", "backend" => backend).set(in_use);
    metrics::gauge!("db_pool_connections", "state" => "idle", "backend" => backend)
        .set(f64::from(usage.idle));
    let text = state.metrics().render();
    (
        [(CONTENT_TYPE, PROMETHEUS_TEXT), (CACHE_CONTROL, "no-store")],
        text,
    )
        .into_response()
}
