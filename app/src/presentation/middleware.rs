//! The layers every route runs through, outermost first: request id (set
//! or echoed, and copied to the response), a tracing span carrying it and
//! the access log line, metrics by route template and status, problem+json for every error body,
//! panic catching, and the 1 MiB body limit.

use std::any::Any;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, Response, StatusCode};
use axum::middleware::Next;
use axum::response::IntoResponse;
use tracing::{Instrument as _, Span};

use crate::infrastructure::metrics::REQUEST_DURATION;
use crate::infrastructure::telemetry::{self, access::Access};
use crate::presentation::error::{ApiError, PROBLEM_JSON};
use crate::presentation::extract::TOO_LARGE;
use crate::presentation::ops::HEALTH_JSON;

/// The request id header, echoed or generated.
pub const REQUEST_ID: &str = "x-request-id";

/// The longest client-chosen request id that is echoed; a longer one (or
/// one with other than visible ASCII) is replaced by a generated id, so a
/// client cannot bloat or forge log lines through it.
pub const MAX_REQUEST_ID: usize = 128;

/// Removes an incoming `X-Request-Id` that is too long or not plain visible
/// ASCII, so the next layer generates a fresh one.
pub async fn drop_unusable_request_id(
    mut request: Request,
    next: Next,
) -> axum::response::Response {
    let unusable = request.headers().get(REQUEST_ID).is_some_and(|v| {
        v.len() > MAX_REQUEST_ID
            || v.is_empty()
            || !v.as_bytes().iter().all(|b| b.is_ascii_graphic())
    });
    if unusable {
        request.headers_mut().remove(REQUEST_ID);
    }
    next.run(request).await
}

/// Serves the request inside its span, then writes its access line (when
/// the access log is on): formatted straight into the log writer's buffer,
/// with the same fields the span has, so the line carries the request id.
pub async fn access_log(request: Request, next: Next) -> axum::response::Response {
    let span = request_span(&request);
    let Some(log) = telemetry::access_log() else {
        return next.run(request).instrument(span).await;
    };
    let started = Instant::now();
    let method = request.method().clone();
    let uri = request.uri().clone();
    let id = request.headers().get(REQUEST_ID).cloned();
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).instrument(span).await;
    log.log(&Access {
        request_id: id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
        method: method.as_str(),
        route: matched.as_ref().map_or("unmatched", MatchedPath::as_str),
        path: uri.path(),
        status: response.status().as_u16(),
        latency: started.elapsed(),
    });
    response
}

/// The span of one request: every log line inside it carries the request
/// id.
pub fn request_span(request: &Request) -> Span {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let route = route(request);
    tracing::info_span!("request", request_id = %id, method = %request.method(), route = %route, path = %request.uri().path())
}

/// Counts requests and records their latency, labelled by method, route
/// template (never the raw path, which would explode cardinality) and status.
pub async fn track_metrics(request: Request, next: Next) -> axum::response::Response {
    let started = Instant::now();
    let route = route(&request).to_owned();
    let method = method_label(request.method());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", status),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!(REQUEST_DURATION, &labels).record(started.elapsed().as_secs_f64());
    response
}

/// The route template a request matched, or `unmatched`.
fn route(request: &Request) -> &str {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
}

/// The `method` label: one of the standard methods, else `OTHER`. A client
/// may send any token as a method (`FOO`, `X1`, ...), and each distinct
/// label value would be a new time series kept forever.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// Replaces any error body that is not a deliberate JSON document (axum's
/// own 404, 405 and extractor rejections, the body limit's 413, ...) with a
/// problem of the same status, keeping headers such as `Allow`. Our own
/// error documents are kept: problem+json, and the health+json of a failing
/// `/health` (503), whose checks are what a probe needs to read.
pub async fn problem_bodies(request: Request, next: Next) -> axum::response::Response {
    let response = next.run(request).await;
    let status = response.status();
    let deliberate = response.headers().get(CONTENT_TYPE).is_some_and(|v| {
        [PROBLEM_JSON, HEALTH_JSON]
            .iter()
            .any(|t| v.as_bytes().starts_with(t.as_bytes()))
    });
    if !(status.is_client_error() || status.is_server_error()) || deliberate {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let error = match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::method_not_allowed(),
        StatusCode::NOT_FOUND => ApiError::new(status, "There is nothing here."),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(status, TOO_LARGE),
        StatusCode::BAD_REQUEST => ApiError::new(status, "The request could not be read."),
        _ => ApiError::bare(status),
    };
    let fresh = error.into_response();
    let (fresh_parts, body) = fresh.into_parts();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.extend(fresh_parts.headers);
    Response::from_parts(parts, body)
}

/// The 500 answer to a panic: logged with its message, answered without one.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "a request handler panicked");
    ApiError::bare(StatusCode::INTERNAL_SERVER_ERROR).into_response()
}

/// The fallback for paths no route matches.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "No resource has this path.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::get;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    use tower_http::catch_panic::CatchPanicLayer;

    async fn boom() -> &'static str {
        panic!("secret internal detail")
    }

    #[test]
    fn only_standard_methods_are_labels() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        for custom in ["FOO", "get", "X-METHOD-1"] {
            let method = Method::from_bytes(custom.as_bytes()).unwrap();
            assert_eq!(method_label(&method), "OTHER", "{custom}");
        }
    }

    #[tokio::test]
    async fn panics_become_bare_problems() {
        let app = Router::new()
            .route("/boom", get(boom))
            .layer(CatchPanicLayer::custom(panic_response));
        let request = axum::http::Request::get("/boom")
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[CONTENT_TYPE], PROBLEM_JSON);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            problem,
            serde_json::json!({"type": "about:blank", "title": "Internal Server Error", "status": 500})
        );
    }
}
