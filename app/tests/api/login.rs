//! Login throttling: failures lock the account for every worker, and
//! parallel attempts cannot outrun the count.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use tower::ServiceExt as _;

use super::harness::TestApp;

#[tokio::test]
async fn repeated_failures_lock_the_account_even_for_the_right_password() {
    let app = TestApp::new().await;
    app.user("ann").await;
    let attempt = |password: &'static str| {
        app.post(
            "/api/auth/login",
            None,
            json!({"email": "ann@example.org", "password": password}),
        )
    };
    for _ in 0..4 {
        attempt("wrong password").await.problem(401);
    }
    let locked = attempt("wrong password").await;
    locked.problem(429);
    let retry: u64 = locked.header("retry-after").parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    let right = attempt("correct horse battery").await;
    right.problem(429);
    assert!(!right.header("retry-after").is_empty());
    let sibling = app.sibling().await;
    let elsewhere = sibling
        .post(
            "/api/auth/login",
            None,
            json!({"email": "ann@example.org", "password": "correct horse battery"}),
        )
        .await;
    elsewhere.problem(429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_passwords_check_at_most_the_limit() {
    let app = TestApp::new().await;
    app.user("ann").await;
    let body = json!({"email": "ann@example.org", "password": "wrong password"}).to_string();
    let attempts: Vec<_> = (0..16)
        .map(|_| {
            let request = Request::post("/api/auth/login")
                .header("content-type", "application/json")
                .body(Body::from(body.clone()))
                .unwrap();
            tokio::spawn(app.router.clone().oneshot(request))
        })
        .collect();
    let (mut refused, mut throttled) = (0, 0);
    for attempt in attempts {
        match attempt.await.unwrap().unwrap().status() {
            StatusCode::UNAUTHORIZED => refused += 1,
            StatusCode::TOO_MANY_REQUESTS => throttled += 1,
            other => panic!("{other}"),
        }
    }
    // Five failures lock the account (the default policy).
    assert!(refused <= 5, "{refused} wrong passwords were checked");
    assert_eq!(throttled, 16 - refused);
    let right = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "ann@example.org", "password": "correct horse battery"}),
        )
        .await;
    right.problem(429);
}
