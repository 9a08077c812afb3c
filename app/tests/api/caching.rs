//! The shared cache: what it may hold, and that it never serves one
//! database's reads to another.

use std::sync::Arc;

use axum::http::StatusCode;

use super::harness::{MapCache, TestApp};

/// Two databases behind one cache (like two deployments on one Redis):
/// each serves its own posts, even after the same number of writes.
#[tokio::test]
async fn databases_sharing_a_cache_never_see_each_other() {
    let cache = Arc::new(MapCache::default());
    let one = TestApp::sharing(cache.clone()).await;
    let two = TestApp::sharing(cache).await;
    let (ann, bob) = (one.user("ann").await, two.user("bob").await);
    let first = one.new_post(&ann, "Hello world", "published").await;
    let second = two.new_post(&bob, "Hello world", "published").await;
    for (app, post) in [(&one, &first), (&two, &second)] {
        let list = app.get("/api/posts", None).await;
        assert_eq!(list.status, StatusCode::OK);
        assert_eq!(list.json()["data"][0]["id"], post["id"]);
        let by_slug = app.get("/api/posts/hello-world", None).await;
        assert_eq!(by_slug.json()["data"]["id"], post["id"]);
    }
}
