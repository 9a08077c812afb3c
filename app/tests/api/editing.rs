//! Concurrent editors: `If-Match` guards against lost updates when a client
//! asks for it, and only then.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use tower::ServiceExt as _;

use super::harness::TestApp;

/// PATCHes without `If-Match`, all at once, all apply (200): a client that
/// names no version cannot be told its version is stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_patches_without_if_match_all_apply() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let post = app.new_post(&ann, "Shared draft", "draft").await;
    let path = format!("/api/posts/{}", post["id"].as_str().unwrap());
    let edits: Vec<_> = (0..12)
        .map(|n| {
            let request = Request::patch(&path)
                .header("authorization", format!("Bearer {}", ann.token))
                .header("content-type", "application/json")
                .body(Body::from(
                    json!({"title": format!("Edit {n}")}).to_string(),
                ))
                .unwrap();
            tokio::spawn(app.router.clone().oneshot(request))
        })
        .collect();
    for edit in edits {
        assert_eq!(edit.await.unwrap().unwrap().status(), StatusCode::OK);
    }
    let after = app.get(&path, Some(&ann.token)).await;
    assert!(
        after.header("etag").starts_with("\"v13-"),
        "{}",
        after.header("etag")
    );

    // With a stale `If-Match` it is still 412.
    let stale = [("if-match", "\"v1-x\"")];
    let body = Some(json!({"title": "Too late"}));
    let refused = app
        .call(
            axum::http::Method::PATCH,
            &path,
            Some(&ann.token),
            &stale,
            body,
        )
        .await;
    refused.problem(412);
}
