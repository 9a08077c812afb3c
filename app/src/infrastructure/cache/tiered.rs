//! The cache the services use: L1 in process, then L2 in Redis when
//! `REDIS_URL` is set.
//!
//! A read tries L1, then L2; an L2 hit is copied into L1 for the time it
//! has left in Redis, so no layer keeps an entry longer than it was given.
//! A write goes to both, except a local-only one (`set_local`). Hits and misses are counted per layer
//! (`cache_hits_total`, `cache_misses_total`) for `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::Cache;
use super::memory::MemoryCache;
use super::shared::RedisCache;

/// L1 (moka) in front of an optional L2 (Redis).
pub struct TieredCache {
    local: MemoryCache,
    shared: Option<Arc<RedisCache>>,
}

impl TieredCache {
    /// Layers `local` over `shared`; with no `shared`, L1 alone.
    pub fn new(local: MemoryCache, shared: Option<Arc<RedisCache>>) -> Self {
        Self { local, shared }
    }
}

fn count(layer: &'static str, hit: bool) {
    if hit {
        metrics::counter!("cache_hits_total", "layer" => layer).increment(1);
    } else {
        metrics::counter!("cache_misses_total", "layer" => layer).increment(1);
    }
}

#[async_trait]
impl Cache for TieredCache {
    async fn get(&self, key: &str) -> Option<Vec<u8>> {
        if let Some(bytes) = self.local.get(key).await {
            count("memory", true);
            return Some(bytes);
        }
        count("memory", false);
        let shared = self.shared.as_ref()?;
        let found = shared.get_with_ttl(key).await;
        count("redis", found.is_some());
        let (bytes, ttl) = found?;
        self.local.set(key, bytes.clone(), ttl).await;
        Some(bytes)
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        if let Some(shared) = &self.shared {
            shared.set(key, value.clone(), ttl).await;
        }
        self.local.set(key, value, ttl).await;
    }

    /// L1 only: Redis has no byte bound.
    async fn set_local(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        self.local.set(key, value, ttl).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn works_without_redis() {
        let cache = TieredCache::new(MemoryCache::new(1 << 20), None);
        assert_eq!(cache.get("k").await, None);
        cache.set("k", b"v".to_vec(), Duration::from_secs(5)).await;
        assert_eq!(cache.get("k").await.as_deref(), Some(&b"v"[..]));
    }

    #[tokio::test]
    async fn an_unreachable_redis_reads_as_a_miss() {
        // Port 1 on loopback refuses connections at once.
        let redis = Arc::new(RedisCache::connect("redis://127.0.0.1:1").unwrap());
        let cache = TieredCache::new(MemoryCache::new(1 << 20), Some(redis.clone()));
        assert_eq!(cache.get("k").await, None);
        cache.set("k", b"v".to_vec(), Duration::from_secs(5)).await;
        assert_eq!(cache.get("k").await.as_deref(), Some(&b"v"[..]));
        assert_eq!(redis.get("k").await, None);
    }

    #[tokio::test]
    async fn a_redis_hit_is_kept_in_process_for_its_remaining_time() {
        let Ok(url) = std::env::var("TEST_REDIS_URL") else {
            eprintln!("skipped: TEST_REDIS_URL is unset");
            return;
        };
        let redis = Arc::new(RedisCache::connect(&url).unwrap());
        let key = format!("test:{}", uuid::Uuid::now_v7());
        redis.set(&key, b"v".to_vec(), Duration::from_secs(5)).await;
        let (_, ttl) = redis.get_with_ttl(&key).await.expect("redis answers");
        assert!(ttl > Duration::from_secs(3) && ttl <= Duration::from_secs(5));
        let cache = TieredCache::new(MemoryCache::new(1 << 20), Some(redis));
        assert_eq!(cache.get(&key).await.as_deref(), Some(&b"v"[..]));
        assert_eq!(cache.local.get(&key).await.as_deref(), Some(&b"v"[..]));
    }
}
