//! Hostile inputs: NUL characters, which PostgreSQL cannot store or even
//! compare in text, are refused in bodies (422 naming the field) and match
//! nothing in lookups and filters, on both backends (never a 503); JSON
//! nested far too deep, numbers far too big and strings far too long are
//! refused in one sentence, and the worker goes on serving.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

use super::harness::TestApp;
use crate::data::harness::in_postgres_schema;

/// Every way a NUL can come in, against `app`.
async fn nul_is_refused_or_matches_nothing(app: &TestApp) {
    let ann = app.user("ann").await;
    let post = app.new_post(&ann, "Hello world", "published").await;
    let id = post["id"].as_str().unwrap();

    let body = json!({"title": "Fine title", "content": "Some\u{0}content here"});
    let created = app.post("/api/posts", Some(&ann.token), body).await;
    assert_eq!(created.invalid_fields(), ["content"]);
    let patch = json!({"tags": ["ok", "n\u{0}l"]});
    let patched = app
        .patch(&format!("/api/posts/{id}"), Some(&ann.token), patch)
        .await;
    assert_eq!(patched.invalid_fields(), ["tags"]);
    let comment = json!({"content": "\u{0}"});
    let path = format!("/api/posts/{id}/comments");
    let commented = app.post(&path, Some(&ann.token), comment).await;
    assert_eq!(commented.invalid_fields(), ["content"]);
    let register =
        json!({"email": "bob@example.org", "name": "B\u{0}b", "password": "long enough"});
    let registered = app.post("/api/auth/register", None, register).await;
    assert_eq!(registered.invalid_fields(), ["name"]);

    app.get("/api/posts/hello%00world", None).await.problem(404);
    for filter in ["tag=rust%00", "q=hello%00", "q=%00"] {
        let list = app.get(&format!("/api/posts?{filter}"), None).await;
        assert_eq!(list.status, StatusCode::OK, "{filter}");
        assert_eq!(list.json()["meta"]["total"], 0, "{filter}");
    }
    let login = json!({"email": "ann@example.org\u{0}", "password": "correct horse battery"});
    let refused = app.post("/api/auth/login", None, login).await;
    assert_eq!(refused.invalid_fields(), ["email"]);
}

#[tokio::test]
async fn nul_on_sqlite() {
    nul_is_refused_or_matches_nothing(&TestApp::new().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_on_postgres() {
    in_postgres_schema(|url| async move {
        let repos = app::data::connect(&url).await.expect("open PostgreSQL");
        repos.database.migrate().await.expect("migrate");
        nul_is_refused_or_matches_nothing(&TestApp::over(repos, url)).await;
    })
    .await;
}

#[tokio::test]
async fn deep_json_huge_numbers_and_long_strings_are_refused_and_the_app_serves_on() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let raw = |body: String| {
        let request = Request::post("/api/posts")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", ann.token))
            .body(Body::from(body))
            .unwrap();
        app.send(request)
    };
    // 100 000 levels, well under the 1 MiB bound: a recursive parser
    // without a depth limit would overflow its stack here. Refused as
    // malformed (400) or as not the object the route takes (422).
    let depth = 100_000;
    for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
        let deep = format!("{}1{}", open.repeat(depth), close.repeat(depth));
        let nested =
            format!("{{\"title\": \"Deep\", \"content\": \"long enough\", \"tags\": {deep}}}");
        for body in [deep, nested] {
            let reply = raw(body).await;
            let status = reply.status.as_u16();
            assert!(matches!(status, 400 | 422), "{status}");
            reply.problem(status);
        }
    }
    let huge = json!({"title": "x".repeat(201), "content": "y".repeat(100_001)});
    let mut fields = raw(huge.to_string()).await.invalid_fields();
    fields.sort();
    assert_eq!(fields, ["content", "title"]);
    let tags = json!({"title": "Tags", "content": "long enough", "tags": ["t".repeat(31)]});
    assert_eq!(raw(tags.to_string()).await.invalid_fields(), ["tags"]);
    // Still serving, and nothing half-made was stored.
    let posts = app.get("/api/posts", Some(&ann.token)).await;
    assert_eq!(posts.status, StatusCode::OK);
    assert_eq!(posts.json()["meta"]["total"], 0);
    app.new_post(&ann, "After the attack", "published").await;
}
