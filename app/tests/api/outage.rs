//! A database that goes away: requests are answered 503 problem+json
//! (never 401, never a hang, never a driver message), `/health` fails with
//! 503, and once PostgreSQL is reachable again the same worker recovers
//! without a restart.

use std::time::{Duration, Instant};

use super::harness::{Reply, TestApp};
use crate::data::harness::in_postgres_schema;
use axum::http::{Method, StatusCode};
use serde_json::json;
use steered_proxy::{Mode, Proxy, upstream_of};

/// How long any request may take while the database is down: the pool's
/// connect timeout (2 s by default) plus slack for a loaded machine.
const ANSWER_BOUND: Duration = Duration::from_secs(10);

/// Asserts a 503 problem that says nothing about the database and tells
/// when to retry.
#[track_caller]
fn unavailable(reply: &Reply) {
    assert!(
        reply
            .header("retry-after")
            .parse::<u64>()
            .is_ok_and(|s| s >= 1),
        "no Retry-After: {:?}",
        reply.headers
    );
    let problem = reply.problem(503).to_string().to_lowercase();
    for leak in ["sqlite", "postgres", "pool", "connection", "sql", "closed"] {
        assert!(!problem.contains(leak), "{leak} leaked: {problem}");
    }
}

/// Asserts `/health` (GET and HEAD) reports the database as failed.
async fn health_fails(app: &TestApp) {
    let health = app.get("/health", None).await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.header("content-type"), "application/health+json");
    assert_eq!(health.header("retry-after"), "1");
    let body = health.json();
    assert_eq!(body["status"], "fail");
    assert_eq!(body["checks"]["database:responseTime"][0]["status"], "fail");
    let head = app.call(Method::HEAD, "/health", None, &[], None).await;
    assert_eq!(head.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(head.header("retry-after"), "1");
    assert!(head.body.is_empty());
}

#[tokio::test]
async fn a_closed_database_is_503_everywhere() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let post = app.new_post(&ann, "Before the outage", "published").await;
    let path = format!("/api/posts/{}", post["id"].as_str().unwrap());
    app.repos.database.close().await;

    health_fails(&app).await;
    unavailable(&app.get(&path, None).await);
    unavailable(&app.get("/api/posts", None).await);
    unavailable(&app.get("/api/tags", None).await);
    // A token that cannot be checked is not a bad token: 503, not 401.
    unavailable(&app.get("/api/users/me", Some(&bob.token)).await);
    // One checked before the outage still is, from memory (SQLite): no
    // revocation can land while the database is closed.
    let me = app.get("/api/users/me", Some(&ann.token)).await;
    assert_eq!(me.status, StatusCode::OK);
    let login = json!({"email": ann.email, "password": "correct horse battery"});
    unavailable(&app.post("/api/auth/login", None, login).await);
    assert_eq!(app.get("/metrics", None).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_is_503_and_recovers() {
    in_postgres_schema(|url| async move {
        let upstream = upstream_of(&url).unwrap().to_owned();
        let proxy = Proxy::start(upstream).unwrap();
        let routed = proxy.route(&url).unwrap();
        let repos = app::data::connect(&routed).await.expect("open PostgreSQL");
        repos.database.migrate().await.expect("migrate");
        let app = TestApp::over(repos, routed);
        let ann = app.user("ann").await;
        let post = app.new_post(&ann, "Before the outage", "published").await;
        let path = format!("/api/posts/{}", post["id"].as_str().unwrap());

        proxy.set(Mode::Cut);
        let started = Instant::now();
        let credentials = json!({"email": ann.email, "password": "correct horse battery"});
        let ((), read, me, login) = tokio::join!(
            health_fails(&app),
            app.get(&path, None),
            app.get("/api/users/me", Some(&ann.token)),
            app.post("/api/auth/login", None, credentials.clone()),
        );
        for reply in [&read, &me, &login] {
            unavailable(reply);
        }
        assert!(started.elapsed() < ANSWER_BOUND, "{:?}", started.elapsed());

        proxy.set(Mode::Pass);
        health_ok(&app).await;
        let read = app.get(&path, None).await;
        assert_eq!(read.json()["data"]["title"], "Before the outage");
        assert_eq!(
            app.get("/api/users/me", Some(&ann.token)).await.status,
            StatusCode::OK
        );
        assert_eq!(
            app.post("/api/auth/login", None, credentials).await.status,
            StatusCode::OK
        );
        let after = app.new_post(&ann, "After the outage", "published").await;
        assert_eq!(after["status"], "published");
    })
    .await;
}

/// `/health` passes again within 2 s: the circuit, opened by the outage,
/// lets a probe through after 1 s, and the pool replaces the connections
/// the outage broke on the first use of each.
async fn health_ok(app: &TestApp) {
    let back = Instant::now();
    loop {
        let health = app.get("/health", None).await;
        if health.status == StatusCode::OK {
            assert_eq!(health.json()["status"], "pass");
            return;
        }
        assert!(back.elapsed() < Duration::from_secs(2), "{}", health.json());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
