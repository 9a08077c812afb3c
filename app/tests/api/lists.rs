//! Post lists (filters, paging, visibility) and cache consistency across
//! workers that share one database.

use axum::http::StatusCode;
use serde_json::json;

use super::harness::{Reply, TestApp};

#[tokio::test]
async fn lists_filter_page_and_respect_visibility() {
    let app = TestApp::new().await;
    let (ann, bob, root) = (
        app.user("ann").await,
        app.user("bob").await,
        app.admin("root").await,
    );
    for i in 0..3 {
        app.new_post(&ann, &format!("Public post {i}"), "published")
            .await;
    }
    app.new_post(&ann, "Ann's draft", "draft").await;
    app.new_post(&bob, "Bob's zebra draft", "draft").await;
    let total = |reply: Reply| reply.json()["meta"]["total"].as_u64().unwrap();
    assert_eq!(total(app.get("/api/posts", None).await), 3);
    assert_eq!(total(app.get("/api/posts", Some(&ann.token)).await), 3);
    assert_eq!(
        total(
            app.get(&format!("/api/posts?author={}", ann.id), Some(&ann.token))
                .await
        ),
        4
    );
    assert_eq!(
        total(
            app.get(&format!("/api/posts?author={}", ann.id), Some(&bob.token))
                .await
        ),
        3
    );
    assert_eq!(
        total(
            app.get(&format!("/api/posts?author={}&status=draft", ann.id), None)
                .await
        ),
        0
    );
    assert_eq!(total(app.get("/api/posts", Some(&root.token)).await), 5);
    assert_eq!(
        total(app.get("/api/posts?q=zebra", Some(&root.token)).await),
        1
    );
    assert_eq!(total(app.get("/api/posts?q=zebra", None).await), 0);
    assert_eq!(total(app.get("/api/posts?tag=RUST", None).await), 3);
    let page = app.get("/api/posts?page=2&limit=2", None).await.json();
    assert_eq!(
        page["meta"],
        json!({"total": 3, "page": 2, "limit": 2, "totalPages": 2})
    );
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    let newest = app.get("/api/posts?limit=1", None).await.json();
    assert_eq!(newest["data"][0]["title"], "Public post 2");
    assert!(newest["data"][0].get("content").is_none() && newest["data"][0]["excerpt"].is_string());
    assert_eq!(
        app.get("/api/posts?page=0&limit=101", None)
            .await
            .invalid_fields(),
        ["page", "limit"]
    );
    assert_eq!(
        app.get("/api/posts?limit=abc&status=x&author=me", None)
            .await
            .invalid_fields(),
        ["limit", "status", "author"]
    );
}

#[tokio::test]
async fn every_worker_sees_an_acknowledged_write() {
    let a = TestApp::new().await;
    let b = a.sibling().await;
    let ann = a.user("ann").await;
    let post = a.new_post(&ann, "Cached", "published").await;
    let path = format!("/api/posts/{}", post["id"].as_str().unwrap());
    for worker in [&a, &b] {
        assert_eq!(
            worker.get(&path, None).await.json()["data"]["title"],
            "Cached"
        );
        assert_eq!(
            worker.get("/api/posts", None).await.json()["meta"]["total"],
            1
        );
        assert_eq!(
            worker.get("/api/tags", None).await.json()["data"][0]["postCount"],
            1
        );
    }
    assert_eq!(
        b.patch(
            &path,
            Some(&ann.token),
            json!({"title": "Changed", "tags": []})
        )
        .await
        .status,
        StatusCode::OK
    );
    for worker in [&a, &b] {
        assert_eq!(
            worker.get(&path, None).await.json()["data"]["title"],
            "Changed"
        );
        assert_eq!(
            worker.get("/api/posts", None).await.json()["data"][0]["title"],
            "Changed"
        );
        assert_eq!(
            worker.get("/api/tags", None).await.json()["data"],
            json!([])
        );
    }
    a.new_post(&ann, "Second", "published").await;
    for worker in [&a, &b] {
        assert_eq!(
            worker.get("/api/posts", None).await.json()["meta"]["total"],
            2
        );
    }
}

#[tokio::test]
async fn list_parameters_at_the_edges() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let post = app.new_post(&ann, "100% sure", "published").await;
    app.new_post(&ann, "snake_case names", "published").await;
    app.new_post(&ann, "Plain title", "published").await;
    let comments = format!("/api/posts/{}/comments", post["id"].as_str().unwrap());
    for (query, fields) in [
        ("limit=0", vec!["limit"]),
        ("limit=101", vec!["limit"]),
        ("limit=4294967296", vec!["limit"]),
        ("limit=99999999999999999999999", vec!["limit"]),
        ("limit=1e9", vec!["limit"]),
        ("limit=-1", vec!["limit"]),
        ("limit=", vec!["limit"]),
        ("page=0", vec!["page"]),
        ("page=abc", vec!["page"]),
        ("page=1.5", vec!["page"]),
        ("status=bogus", vec!["status"]),
        ("author=not-a-uuid", vec!["author"]),
        (
            "page=0&limit=0&status=x&author=y",
            vec!["page", "limit", "status", "author"],
        ),
    ] {
        let reply = app.get(&format!("/api/posts?{query}"), None).await;
        assert_eq!(reply.invalid_fields(), fields, "{query}");
    }
    for list in [comments.as_str(), "/api/notifications"] {
        for query in ["limit=0", "limit=101", "page=0", "page=abc"] {
            let reply = app.get(&format!("{list}?{query}"), Some(&ann.token)).await;
            assert_eq!(reply.problem(422)["errors"].as_array().unwrap().len(), 1);
        }
    }
    // Unknown parameters are ignored, as HTTP caches and proxies add some.
    let total = |path: &str| {
        let path = path.to_owned();
        let app = &app;
        async move { app.get(&path, None).await.json()["meta"]["total"].clone() }
    };
    assert_eq!(total("/api/posts?utm_source=x&sort=title").await, 3);
    // `%` and `_` are searched for literally, not as LIKE wildcards.
    assert_eq!(total("/api/posts?q=%25").await, 1);
    assert_eq!(total("/api/posts?q=_").await, 1);
    assert_eq!(total("/api/posts?q=%25_").await, 0);
    // Bounds are inclusive; a page past the end is empty, not an error.
    let edge = app.get("/api/posts?limit=100&page=4294967295", None).await;
    assert_eq!(
        edge.json(),
        json!({"data": [], "meta": {"total": 3, "page": 4294967295u32, "limit": 100, "totalPages": 1}})
    );
    assert_eq!(total("/api/posts?limit=1&page=3").await, 3);
}
