//! Real answers of every operation, checked against the document the app
//! serves (`GET /openapi.json`, see `contract`). A walk through the API
//! gives each operation its success answers and the errors clients meet
//! most (304, 400, 401, 403, 404, 409, 412, 413, 415, 422, 429), so the
//! document is checked without Python; `bench/contract.sh` then fuzzes it.

mod contract;

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::json;

use super::harness::{Reply, TestApp};
use contract::Contract;

/// A request with a raw body, for answers JSON bodies cannot provoke.
async fn raw(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let mut request = Request::post(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    app.send(request.body(Body::from(body)).unwrap()).await
}

/// A POST without a body.
async fn bodiless(app: &TestApp, path: &str, token: Option<&str>) -> Reply {
    app.call(Method::POST, path, token, &[], None).await
}

/// Checks the answer of `$reply` (a request future) to `$method` on
/// `$template` against the document.
macro_rules! check {
    ($c:ident, $method:literal $template:literal => $reply:expr) => {
        $c.check($method, $template, &$reply.await)
    };
}

#[tokio::test]
async fn every_answer_of_the_walk_is_as_documented() {
    let app = TestApp::new().await;
    let c = Contract::of(&app).await;
    let json_type = Some("application/json");

    // Accounts.
    let register =
        |email: &str| json!({"email": email, "name": "Ann", "password": "correct horse battery"});
    check!(c, "post" "/api/auth/register" => app.post("/api/auth/register", None, register("ann@example.org")));
    check!(c, "post" "/api/auth/register" => app.post("/api/auth/register", None, register("ANN@example.org")));
    check!(c, "post" "/api/auth/register" => app.post("/api/auth/register", None, json!({"email": "x"})));
    check!(c, "post" "/api/auth/register" => raw(&app, "/api/auth/register", None, json_type, b"{".into()));
    check!(c, "post" "/api/auth/register" => raw(&app, "/api/auth/register", None, None, b"{}".into()));
    let huge = vec![b' '; 1024 * 1024 + 1];
    check!(c, "post" "/api/auth/register" => raw(&app, "/api/auth/register", None, json_type, huge));
    let login = json!({"email": "ann@example.org", "password": "correct horse battery"});
    let session = app.post("/api/auth/login", None, login).await;
    c.check("post", "/api/auth/login", &session);
    let ann = session.json()["data"]["token"].as_str().unwrap().to_owned();
    let ann_id = session.json()["data"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (bob, carl) = (app.user("bob").await, app.user("carl").await);
    let (bob, carl) = (bob.token.as_str(), carl.token.as_str());
    check!(c, "post" "/api/auth/login" => app.post("/api/auth/login", None, json!({"email": 1})));
    let wrong = json!({"email": "carl@example.org", "password": "wrong password"});
    for _ in 0..5 {
        // Four times 401, then 429.
        check!(c, "post" "/api/auth/login" => app.post("/api/auth/login", None, wrong.clone()));
    }

    let me = app.get("/api/users/me", Some(&ann)).await;
    c.check("get", "/api/users/me", &me);
    let fresh = [("if-none-match", me.header("etag"))];
    check!(c, "get" "/api/users/me" => app.call(Method::GET, "/api/users/me", Some(&ann), &fresh, None));
    check!(c, "get" "/api/users/me" => app.get("/api/users/me", None));
    check!(c, "get" "/api/users/me" => app.get("/api/users/me", Some("not-a-token")));
    let profile = format!("/api/users/{ann_id}");
    check!(c, "get" "/api/users/{id}" => app.get(&profile, None));
    check!(c, "get" "/api/users/{id}" => app.get(&profile, Some(&ann)));
    check!(c, "get" "/api/users/{id}" => app.get("/api/users/nobody", None));

    // Follows.
    let follow = format!("/api/users/{ann_id}/follow");
    check!(c, "post" "/api/users/{id}/follow" => bodiless(&app, &follow, Some(bob)));
    check!(c, "post" "/api/users/{id}/follow" => bodiless(&app, &follow, Some(&ann)));
    check!(c, "post" "/api/users/{id}/follow" => bodiless(&app, &follow, None));
    check!(c, "post" "/api/users/{id}/follow" => bodiless(&app, "/api/users/nobody/follow", Some(bob)));
    check!(c, "delete" "/api/users/{id}/follow" => app.delete(&follow, Some(carl)));

    // Posts.
    let new = json!({"title": "Contract testing", "content": "Checked against the document.",
                     "tags": ["Testing"], "status": "published"});
    let created = app.post("/api/posts", Some(&ann), new.clone()).await;
    c.check("post", "/api/posts", &created);
    let id = created.json()["data"]["id"].as_str().unwrap().to_owned();
    let slug = created.json()["data"]["slug"].as_str().unwrap().to_owned();
    check!(c, "post" "/api/posts" => app.post("/api/posts", Some(&ann), json!({"title": "x"})));
    check!(c, "post" "/api/posts" => app.post("/api/posts", None, new));
    check!(c, "post" "/api/posts" => raw(&app, "/api/posts", Some(&ann), Some("text/plain"), b"{}".into()));
    check!(c, "get" "/api/posts" => app.get("/api/posts?limit=5", None));
    let own_drafts = format!("/api/posts?author={ann_id}&status=draft");
    check!(c, "get" "/api/posts" => app.get(&own_drafts, Some(&ann)));
    check!(c, "get" "/api/posts" => app.get("/api/posts?page=0&limit=1000", None));
    let path = format!("/api/posts/{id}");
    let shown = app.get(&path, None).await;
    c.check("get", "/api/posts/{id}", &shown);
    check!(c, "get" "/api/posts/{id}" => app.get(&format!("/api/posts/{slug}"), None));
    let (unchanged, current) = (
        [("if-none-match", shown.header("etag"))],
        [("if-match", shown.header("etag"))],
    );
    check!(c, "get" "/api/posts/{id}" => app.call(Method::GET, &path, None, &unchanged, None));
    check!(c, "get" "/api/posts/{id}" => app.get("/api/posts/no-such-post", None));
    let title = |title: &str| Some(json!({"title": title}));
    check!(c, "patch" "/api/posts/{id}" => app.call(Method::PATCH, &path, Some(&ann), &current, title("New")));
    check!(c, "patch" "/api/posts/{id}" => app.call(Method::PATCH, &path, Some(&ann), &current, title("Stale")));
    check!(c, "patch" "/api/posts/{id}" => app.patch(&path, Some(bob), json!({"title": "Mine now"})));
    check!(c, "patch" "/api/posts/{id}" => app.patch(&path, Some(&ann), json!({"status": "gone"})));

    // Comments, notifications, tags.
    let comments = format!("{path}/comments");
    let comment = app
        .post(&comments, Some(bob), json!({"content": "Nice."}))
        .await;
    c.check("post", "/api/posts/{id}/comments", &comment);
    check!(c, "post" "/api/posts/{id}/comments" => app.post(&comments, Some(bob), json!({"content": ""})));
    let nowhere = "/api/posts/nothing/comments";
    check!(c, "post" "/api/posts/{id}/comments" => app.post(nowhere, Some(bob), json!({"content": "Hi"})));
    check!(c, "get" "/api/posts/{id}/comments" => app.get(&comments, None));
    check!(c, "get" "/api/posts/{id}/comments" => app.get(&format!("{comments}?limit=0"), None));
    let comment = format!(
        "/api/comments/{}",
        comment.json()["data"]["id"].as_str().unwrap()
    );
    check!(c, "delete" "/api/comments/{id}" => app.delete(&comment, Some(carl)));
    check!(c, "delete" "/api/comments/{id}" => app.delete(&comment, Some(bob)));
    check!(c, "delete" "/api/comments/{id}" => app.delete(&comment, Some(bob)));
    check!(c, "get" "/api/notifications" => app.get("/api/notifications", Some(bob)));
    check!(c, "get" "/api/notifications" => app.get("/api/notifications?page=x", Some(bob)));
    check!(c, "post" "/api/notifications/read" => bodiless(&app, "/api/notifications/read", Some(bob)));
    check!(c, "get" "/api/tags" => app.get("/api/tags", None));

    // Deletion, logout, operations.
    check!(c, "delete" "/api/posts/{id}" => app.delete(&path, Some(bob)));
    check!(c, "delete" "/api/posts/{id}" => app.delete(&path, Some(&ann)));
    check!(c, "delete" "/api/posts/{id}" => app.delete(&path, Some(&ann)));
    check!(c, "post" "/api/auth/logout" => bodiless(&app, "/api/auth/logout", Some(&ann)));
    check!(c, "post" "/api/auth/logout" => bodiless(&app, "/api/auth/logout", Some(&ann)));
    check!(c, "get" "/health" => app.get("/health", None));
    check!(c, "head" "/health" => app.call(Method::HEAD, "/health", None, &[], None));
    check!(c, "get" "/health/live" => app.get("/health/live", None));
    check!(c, "head" "/health/live" => app.call(Method::HEAD, "/health/live", None, &[], None));
    check!(c, "get" "/metrics" => app.get("/metrics", None));

    c.assert_every_operation_succeeded();
}
