//! Hostile inputs: NUL characters, which PostgreSQL cannot store or even
//! compare in text, are refused in bodies (422 naming the field) and match
//! nothing in lookups and filters, on both backends (never a 503).

use axum::http::StatusCode;
use serde_json::json;

use super::harness::TestApp;
use crate::data::harness::PgSchema;

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
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let url = schema.url();
    let outcome = tokio::spawn(async move {
        let repos = app::data::connect(&url).await.expect("open PostgreSQL");
        repos.database.migrate().await.expect("migrate");
        nul_is_refused_or_matches_nothing(&TestApp::over(repos, url)).await;
    })
    .await;
    schema.drop().await;
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}
