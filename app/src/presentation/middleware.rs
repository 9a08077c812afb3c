//! What the layers around every route do besides [`edge`](super::edge):
//! problem+json for every error body, a bare 500 for a panic, and the
//! problem for a path no route matches.

use std::any::Any;

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Response, StatusCode};
use axum::response::IntoResponse;

use crate::presentation::error::{ApiError, PROBLEM_JSON, ensure_retry_after};
use crate::presentation::extract::TOO_LARGE;
use crate::presentation::ops::HEALTH_JSON;

/// Replaces any error body that is not a deliberate JSON document (axum's
/// own 404, 405 and extractor rejections, the body limit's 413, ...) with a
/// problem of the same status, keeping headers such as `Allow`. Our own
/// error documents are kept: problem+json, and the health+json of a failing
/// `/health` (503), whose checks are what a probe needs to read. Every 503
/// leaves with a `Retry-After`.
pub fn problem_body(mut response: Response<Body>) -> Response<Body> {
    let status = response.status();
    ensure_retry_after(response.headers_mut(), status);
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

    /// Every kind of 503 the app makes leaves the edge with a
    /// `Retry-After`: a busy server's, a failed dependency's, an open
    /// circuit's, a failing `/health`'s, and a bare one from a layer.
    #[test]
    fn every_503_says_when_to_retry() {
        use std::time::Duration;

        use axum::http::header::RETRY_AFTER;

        use crate::business::ServiceError;
        use crate::data::CircuitOpen;

        let failed = |source: Box<dyn std::error::Error + Send + Sync>| {
            ApiError::from(ServiceError::Unavailable {
                during: "testing",
                source,
            })
            .into_response()
        };
        let health = Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .header(CONTENT_TYPE, HEALTH_JSON)
            .body(Body::from("{}"))
            .unwrap();
        let bare = Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .body(Body::empty())
            .unwrap();
        let cases = [
            (
                "busy",
                ApiError::from(ServiceError::Busy {
                    retry_after: Duration::from_secs(4),
                })
                .into_response(),
                "4",
            ),
            ("dependency", failed("the disk is on fire".into()), "1"),
            (
                "circuit",
                failed(Box::new(CircuitOpen {
                    retry_after: Duration::from_millis(300),
                })),
                "1",
            ),
            ("health", health, "1"),
            ("bare", bare, "1"),
        ];
        for (name, response, expected) in cases {
            let response = problem_body(response);
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{name}");
            assert_eq!(
                response
                    .headers()
                    .get(RETRY_AFTER)
                    .map(|v| v.to_str().unwrap()),
                Some(expected),
                "{name}"
            );
        }
        let ok = problem_body(Response::new(Body::empty()));
        assert!(!ok.headers().contains_key(RETRY_AFTER));
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
