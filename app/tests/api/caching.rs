//! The shared cache: what it may hold, and that it never serves one
//! database's reads to another.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use app::infrastructure::cache::Cache;
use async_trait::async_trait;
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

/// A shared cache that keeps everything in a map but counts the entries
/// given to it.
#[derive(Default)]
struct CountingCache {
    entries: MapCache,
    stored: AtomicUsize,
}

impl CountingCache {
    /// Stores since the last call.
    fn take(&self) -> usize {
        self.stored.swap(0, Ordering::SeqCst)
    }
}

#[async_trait]
impl Cache for CountingCache {
    async fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.entries.get(key).await
    }
    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        self.stored.fetch_add(1, Ordering::SeqCst);
        self.entries.set(key, value, ttl).await;
    }
}

/// Searches and lookups of what does not exist have keys a client can vary
/// without end: they are kept in process only, never in the shared cache.
#[tokio::test]
async fn searches_and_misses_stay_out_of_the_shared_cache() {
    let cache = Arc::new(CountingCache::default());
    let app = TestApp::sharing(cache.clone()).await;
    let ann = app.user("ann").await;
    app.new_post(&ann, "Hello world", "published").await;
    cache.take();
    let unknown = uuid::Uuid::now_v7();
    for (path, expected, stores) in [
        ("/api/posts/hello-world".to_owned(), 200, 1),
        ("/api/posts/hello-world".to_owned(), 200, 0),
        ("/api/posts".to_owned(), 200, 1),
        ("/api/posts".to_owned(), 200, 0),
        ("/api/posts?q=hello".to_owned(), 200, 0),
        ("/api/posts?q=nothing-like-it".to_owned(), 200, 0),
        ("/api/posts?tag=no-such-tag".to_owned(), 200, 0),
        ("/api/posts?page=9".to_owned(), 200, 0),
        ("/api/posts/no-such-slug".to_owned(), 404, 0),
        (format!("/api/posts/{unknown}"), 404, 0),
    ] {
        let reply = app.get(&path, None).await;
        assert_eq!(reply.status.as_u16(), expected, "{path}");
        assert_eq!(cache.take(), stores, "shared stores for {path}");
    }
}
