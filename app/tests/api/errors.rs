//! The error contract (problem+json for every failure), request ids,
//! `/health` and `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use app::business::{Services, Settings};
use app::presentation::{AppState, ops_router};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};

use super::harness::{MapCache, TestApp};

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = TestApp::new().await;
    let missing = app.get("/api/nope", None).await;
    missing.problem(404);
    let wrong = app.call(Method::PUT, "/api/posts", None, &[], None).await;
    let problem = wrong.problem(405);
    let allow = wrong.header("allow").to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    assert!(problem["detail"].as_str().unwrap().contains("Allow"));
    app.call(Method::DELETE, "/api/tags", None, &[], None)
        .await
        .problem(405);
}

#[tokio::test]
async fn bodies_are_checked_before_anything_else() {
    let app = TestApp::new().await;
    let raw = |content_type: Option<&'static str>, body: Body| {
        let mut request = Request::post("/api/auth/register");
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        app.send(request.body(body).unwrap())
    };
    raw(None, Body::from(r#"{"email":"a@b.org"}"#))
        .await
        .problem(415);
    raw(Some("text/plain"), Body::from(r#"{"email":"a@b.org"}"#))
        .await
        .problem(415);
    let malformed = raw(Some("application/json"), Body::from("{\"email\": ")).await;
    let detail = malformed.problem(400)["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains("not valid JSON"), "{detail}");
    raw(Some("application/json"), Body::from("{} trailing"))
        .await
        .problem(400);
    raw(Some("application/json"), Body::empty())
        .await
        .problem(400);
    for not_an_object in ["[\"a@b.org\", \"Ann\", \"password1\"]", "5", "\"text\""] {
        assert_eq!(
            raw(Some("application/json"), Body::from(not_an_object))
                .await
                .invalid_fields(),
            ["body"]
        );
    }
    let huge = format!("{{\"email\": \"{}\"}}", "x".repeat(1024 * 1024));
    raw(Some("application/json"), Body::from(huge.clone()))
        .await
        .problem(413);
    let declared = Request::post("/api/auth/register")
        .header("content-type", "application/json")
        .header("content-length", huge.len().to_string())
        .body(Body::from(huge))
        .unwrap();
    app.send(declared).await.problem(413);
}

#[tokio::test]
async fn request_ids_are_echoed_or_made() {
    let app = TestApp::new().await;
    let echoed = app
        .call(
            Method::GET,
            "/api/tags",
            None,
            &[("x-request-id", "abc-123")],
            None,
        )
        .await;
    assert_eq!(echoed.header("x-request-id"), "abc-123");
    let made = app.get("/api/nope", None).await;
    assert!(
        uuid::Uuid::parse_str(made.header("x-request-id")).is_ok(),
        "{:?}",
        made.headers
    );
    let failed = app
        .call(
            Method::GET,
            "/api/users/me",
            None,
            &[("x-request-id", "err-1")],
            None,
        )
        .await;
    assert_eq!(
        (failed.status, failed.header("x-request-id")),
        (StatusCode::UNAUTHORIZED, "err-1")
    );
    let oversized = "x".repeat(129);
    let replaced = app
        .call(
            Method::GET,
            "/api/tags",
            None,
            &[("x-request-id", &oversized)],
            None,
        )
        .await;
    assert!(
        uuid::Uuid::parse_str(replaced.header("x-request-id")).is_ok(),
        "an oversized request id is replaced, not echoed"
    );
}

#[tokio::test]
async fn health_reports_the_database() {
    let app = TestApp::new().await;
    let health = app.get("/health", None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.header("content-type"), "application/health+json");
    let body = health.json();
    assert_eq!(
        (body["status"].as_str(), body["serviceId"].as_str()),
        (Some("pass"), Some("test-worker"))
    );
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    let check = &body["checks"]["database:responseTime"][0];
    assert_eq!(
        (
            check["componentType"].as_str(),
            check["observedUnit"].as_str()
        ),
        (Some("datastore"), Some("ms"))
    );
    assert!(check["observedValue"].is_number() && check["time"].is_string());
    assert!(body["checks"].get("cache:responseTime").is_none());
    let head = app.call(Method::HEAD, "/health", None, &[], None).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
}

/// When the database check of a `/health` answer was measured.
async fn health_measured(app: &TestApp) -> (StatusCode, String) {
    let health = app.get("/health", None).await;
    let time = health.json()["checks"]["database:responseTime"][0]["time"]
        .as_str()
        .expect("a measurement time")
        .to_owned();
    (health.status, time)
}

#[tokio::test]
async fn health_pings_the_database_at_most_once_per_100_ms_and_never_reuses_a_failure() {
    let app = TestApp::new().await;
    let (status, first) = health_measured(&app).await;
    let (_, again) = health_measured(&app).await;
    assert_eq!((status, &again), (StatusCode::OK, &first), "reused at once");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (_, later) = health_measured(&app).await;
    assert_ne!(later, first, "measured again once the report is 100 ms old");

    app.repos.database.close().await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (status, failed) = health_measured(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (_, failed_again) = health_measured(&app).await;
    assert_ne!(failed_again, failed, "a failure is measured again");
}

#[tokio::test]
async fn health_checks_a_shared_cache_and_ops_router_is_minimal() {
    let app = TestApp::new().await;
    let services = Services::new(
        app.repos.clone(),
        Some(Arc::new(MapCache::default())),
        Settings::default(),
    )
    .with_shared_cache_check(Arc::new(MapCache::default()));
    let ops = app
        .sibling()
        .await
        .with_router(ops_router(AppState::new(Arc::new(services), "ops")));
    let body = ops.get("/health", None).await.json();
    assert_eq!(body["checks"]["cache:responseTime"][0]["status"], "pass");
    assert_eq!(ops.get("/metrics", None).await.status, StatusCode::OK);
    ops.get("/api/tags", None).await.problem(404);
}

#[tokio::test]
async fn metrics_label_routes_by_template() {
    let app = TestApp::new().await;
    app.get("/api/posts/some-slug", None).await;
    let custom = Method::from_bytes(b"BREW").unwrap();
    app.call(custom, "/api/tags", None, &[], None).await;
    // The first read of the tag cloud misses the cache, the second hits it.
    app.get("/api/tags", None).await;
    app.get("/api/tags", None).await;
    let metrics = app.get("/metrics", None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics
            .header("content-type")
            .starts_with("text/plain; version=0.0.4")
    );
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    let line = |parts: &[&str]| {
        text.lines()
            .find(|line| parts.iter().all(|part| line.contains(part)))
            .unwrap_or_else(|| panic!("no line has all of {parts:?} in\n{text}"))
            .to_owned()
    };
    line(&[
        "http_requests_total{",
        "route=\"/api/posts/{id}\"",
        "status=\"404\"",
    ]);
    assert!(!text.contains("some-slug"), "raw paths never become labels");
    line(&["http_requests_total{", "method=\"OTHER\"", "status=\"405\""]);
    assert!(!text.contains("BREW"), "nor do made-up methods");
    // Both reads counted on one series (other tests of this binary may add
    // to it; the recorder is the process's).
    let tags = line(&[
        "http_requests_total{",
        "method=\"GET\"",
        "route=\"/api/tags\"",
        "status=\"200\"",
    ]);
    let count: u64 = tags.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 2, "{tags}");
    assert!(
        text.contains("# TYPE http_request_duration_seconds histogram"),
        "latency is a histogram, not a summary"
    );
    for bucket in ["le=\"0.005\"", "le=\"+Inf\""] {
        line(&[
            "http_request_duration_seconds_bucket{",
            "route=\"/api/tags\"",
            "status=\"200\"",
            "method=\"GET\"",
            bucket,
        ]);
    }
    line(&[
        "http_request_duration_seconds_count{",
        "route=\"/api/tags\"",
    ]);
    line(&["http_request_duration_seconds_sum{", "route=\"/api/tags\""]);
    assert!(
        !text.contains("http_request_duration_seconds{"),
        "no quantiles"
    );
    line(&[
        "db_pool_connections{",
        "state=\"in_use\"",
        "backend=\"sqlite\"",
    ]);
    line(&[
        "db_pool_connections{",
        "state=\"idle\"",
        "backend=\"sqlite\"",
    ]);
    line(&["app_cache_misses_total{", "kind=\"tags\""]);
    line(&["app_cache_hits_total{", "kind=\"tags\""]);
}
