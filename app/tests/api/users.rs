//! Registration, login, sessions, `/users/me` and profiles.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::harness::TestApp;

#[tokio::test]
async fn register_returns_the_user_without_secrets() {
    let app = TestApp::new().await;
    let body = json!({"email": "  Ann@Example.org ", "name": " Ann ", "password": "correct horse battery"});
    let reply = app.post("/api/auth/register", None, body).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let user = reply.json()["data"].clone();
    assert_eq!(
        reply.header("location"),
        format!("/api/users/{}", user["id"].as_str().unwrap())
    );
    assert_eq!(
        (
            user["email"].as_str(),
            user["name"].as_str(),
            user["role"].as_str()
        ),
        (Some("Ann@Example.org"), Some("Ann"), Some("user"))
    );
    assert!(user["createdAt"].as_str().unwrap().ends_with('Z'));
    let text = String::from_utf8_lossy(&reply.body);
    assert!(
        !text.contains("password") && !text.contains("argon2"),
        "{text}"
    );
    let stored = app
        .repos
        .users
        .by_email("ann@example.org")
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored
            .password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
    );
}

#[tokio::test]
async fn register_reports_every_broken_rule_and_duplicates() {
    let app = TestApp::new().await;
    let bad = json!({"email": "not-an-email", "name": "  ", "password": "short"});
    assert_eq!(
        app.post("/api/auth/register", None, bad)
            .await
            .invalid_fields(),
        ["email", "name", "password"]
    );
    let long_name =
        json!({"email": "a@example.org", "name": "x".repeat(101), "password": "x".repeat(257)});
    assert_eq!(
        app.post("/api/auth/register", None, long_name)
            .await
            .invalid_fields(),
        ["name", "password"]
    );
    app.user("ann").await;
    let again =
        json!({"email": "ANN@example.ORG", "name": "Other", "password": "another password"});
    let problem = app
        .post("/api/auth/register", None, again)
        .await
        .problem(409);
    assert!(problem["detail"].as_str().unwrap().contains("email"));
}

#[tokio::test]
async fn login_failures_look_the_same() {
    let app = TestApp::new().await;
    app.user("ann").await;
    let wrong = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "ann@example.org", "password": "wrong password"}),
        )
        .await;
    let unknown = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "nobody@example.org", "password": "wrong password"}),
        )
        .await;
    assert_eq!(wrong.problem(401), unknown.problem(401));
    assert_eq!(wrong.header("www-authenticate"), "Bearer");
    assert_eq!(unknown.header("www-authenticate"), "Bearer");
    let login = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "ANN@example.org", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK);
    assert_eq!(login.header("cache-control"), "no-store");
    let data = login.json()["data"].clone();
    assert_eq!(
        data["token"].as_str().unwrap().len(),
        43,
        "32 bytes in base64url"
    );
    assert!(data["expiresAt"].is_string() && data["user"]["email"] == "ann@example.org");
}

#[tokio::test]
async fn logout_revokes_the_token_for_every_worker() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let sibling = app.sibling().await;
    assert_eq!(
        sibling.get("/api/users/me", Some(&ann.token)).await.status,
        StatusCode::OK
    );
    let out = app
        .call(
            Method::POST,
            "/api/auth/logout",
            Some(&ann.token),
            &[],
            None,
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    for worker in [&app, &sibling] {
        let refused = worker.get("/api/users/me", Some(&ann.token)).await;
        refused.problem(401);
        assert_eq!(
            refused.header("www-authenticate"),
            "Bearer error=\"invalid_token\""
        );
    }
    let anonymous = app.get("/api/users/me", None).await;
    anonymous.problem(401);
    assert_eq!(anonymous.header("www-authenticate"), "Bearer");
    app.call(Method::POST, "/api/auth/logout", None, &[], None)
        .await
        .problem(401);
    let garbage = app
        .call(
            Method::GET,
            "/api/users/me",
            None,
            &[("authorization", "Basic abc")],
            None,
        )
        .await;
    assert_eq!(garbage.problem(401)["status"], 401);
}

#[tokio::test]
async fn me_has_an_etag() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let me = app.get("/api/users/me", Some(&ann.token)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["data"]["role"], "user");
    let etag = me.header("etag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    let again = app
        .call(
            Method::GET,
            "/api/users/me",
            Some(&ann.token),
            &[("if-none-match", &etag)],
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(again.header("etag"), etag);
    assert!(again.body.is_empty());
}

#[tokio::test]
async fn profiles_show_email_to_self_and_admins_only() {
    let app = TestApp::new().await;
    let (ann, bob, root) = (
        app.user("ann").await,
        app.user("bob").await,
        app.admin("root").await,
    );
    app.new_post(&ann, "Published one", "published").await;
    app.new_post(&ann, "A draft", "draft").await;
    let path = format!("/api/users/{}", ann.id);
    let public = app.get(&path, None).await;
    assert_eq!(public.status, StatusCode::OK);
    assert!(!public.header("etag").is_empty());
    let data = public.json()["data"].clone();
    assert_eq!(
        (data["postCount"].as_u64(), data["followerCount"].as_u64()),
        (Some(1), Some(0))
    );
    assert!(data.get("email").is_none());
    assert!(
        app.get(&path, Some(&bob.token)).await.json()["data"]
            .get("email")
            .is_none()
    );
    assert_eq!(
        app.get(&path, Some(&ann.token)).await.json()["data"]["email"],
        ann.email
    );
    assert_eq!(
        app.get(&path, Some(&root.token)).await.json()["data"]["email"],
        ann.email
    );
    app.get("/api/users/0190a5b0-0000-7000-8000-000000000000", None)
        .await
        .problem(404);
    app.get("/api/users/not-a-uuid", None).await.problem(404);
}
