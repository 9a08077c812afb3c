//! The presentation layer: routes, extractors, middleware and errors.
//!
//! [`router`] builds the whole public API (plus `/health`, `/metrics` and
//! the API's OpenAPI document, `/openapi.json`) and [`ops_router`] only
//! the two operational endpoints, for a private socket. Both are plain [`Router`]s, separate from serving, so tests
//! drive them with `tower::ServiceExt::oneshot`. Handlers turn HTTP into
//! service calls and [`ServiceError`](crate::business::ServiceError)s into
//! problem+json; no rule lives here.

mod auth;
mod conditional;
mod edge;
mod envelope;
mod error;
mod extract;
mod middleware;
mod openapi;
mod ops;
mod requests;
mod routes;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;

pub use auth::Authenticated;
pub use error::{ApiError, PROBLEM_JSON};
pub use extract::{ApiJson, ApiQuery, BODY_LIMIT};
pub use ops::{HEALTH_JSON, PROMETHEUS_TEXT};

use crate::business::Services;

/// What every handler can reach: the services, the metrics handle and
/// who this worker is. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    services: Arc<Services>,
    metrics: PrometheusHandle,
    service_id: String,
    version: String,
}

impl AppState {
    /// The state of one worker. `service_id` names this instance in
    /// `/health` (e.g. host and worker id); the version is the crate's.
    /// Installs the process-wide Prometheus recorder if it is not yet.
    pub fn new(services: Arc<Services>, service_id: impl Into<String>) -> Self {
        let inner = Inner {
            services,
            metrics: crate::infrastructure::metrics::handle(),
            service_id: service_id.into(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The services.
    pub fn services(&self) -> &Services {
        &self.inner.services
    }

    /// The Prometheus handle `/metrics` renders.
    pub fn metrics(&self) -> &PrometheusHandle {
        &self.inner.metrics
    }

    /// This instance's id, as `/health` reports it.
    pub fn service_id(&self) -> &str {
        &self.inner.service_id
    }

    /// The app's version, as `/health` reports it.
    pub fn version(&self) -> &str {
        &self.inner.version
    }
}

/// The public router: the API, `/health` and `/metrics`, every response
/// with an `X-Request-Id` and every error as problem+json.
pub fn router(state: AppState) -> Router {
    layered(routes::api().merge(ops_routes()), state)
}

/// Only `/health`, `/health/live` and `/metrics`, for the private health
/// socket.
pub fn ops_router(state: AppState) -> Router {
    layered(ops_routes(), state)
}

fn ops_routes() -> Router<AppState> {
    routes::build(ops_table())
}

/// The operational routes, as a list the OpenAPI tests can walk.
fn ops_table() -> Vec<routes::Route> {
    vec![
        ("/health", get(ops::health)),
        ("/health/live", get(ops::live)),
        ("/metrics", get(ops::metrics)),
    ]
}

fn layered(routes: Router<AppState>, state: AppState) -> Router {
    let layers = ServiceBuilder::new()
        .layer(edge::EdgeLayer)
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT));
    routes
        .fallback(middleware::not_found)
        .layer(layers)
        .with_state(state)
}
