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
