//! The in-process cache (L1): moka, bounded in bytes, with per-entry TTL.
//!
//! Each worker has its own; it answers without a network round trip and
//! needs no invalidation, because keys carry the content generation (see
//! the parent module).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::Expiry;

use super::Cache;

/// The byte budget of one worker's cache when the caller has no opinion.
pub const DEFAULT_CAPACITY_BYTES: u64 = 64 * 1024 * 1024;

/// A value and how long it may live.
#[derive(Clone)]
struct Entry {
    bytes: std::sync::Arc<[u8]>,
    ttl: Duration,
}

/// Each entry lives for the TTL it was stored with.
struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, entry: &Entry, _at: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// A size-bounded, TTL-respecting in-process cache.
#[derive(Clone)]
pub struct MemoryCache {
    entries: moka::future::Cache<String, Entry>,
}

impl MemoryCache {
    /// A cache that evicts the least useful entries beyond
    /// `capacity_bytes` (keys and values counted).
    pub fn new(capacity_bytes: u64) -> Self {
        let entries = moka::future::Cache::builder()
            .max_capacity(capacity_bytes)
            .weigher(|key: &String, entry: &Entry| {
                u32::try_from(key.len() + entry.bytes.len()).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        Self { entries }
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.entries
            .get(key)
            .await
            .map(|entry| entry.bytes.to_vec())
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let entry = Entry {
            bytes: value.into(),
            ttl,
        };
        self.entries.insert(key.to_owned(), entry).await;
    }

    /// The same as `set`: this cache is bounded in bytes, and once full,
    /// moka admits a new key only when it is likely to be used more than
    /// what it would evict, so one-off keys do not push out popular entries.
    async fn set_local(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        self.set(key, value, ttl).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stores_and_expires() {
        let cache = MemoryCache::new(1024);
        cache
            .set("a", b"one".to_vec(), Duration::from_secs(60))
            .await;
        cache
            .set("b", b"two".to_vec(), Duration::from_millis(20))
            .await;
        assert_eq!(cache.get("a").await.as_deref(), Some(&b"one"[..]));
        assert_eq!(cache.get("b").await.as_deref(), Some(&b"two"[..]));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(cache.get("b").await, None);
        assert_eq!(cache.get("missing").await, None);
    }

    #[tokio::test]
    async fn stays_within_its_byte_budget() {
        let cache = MemoryCache::new(4096);
        for i in 0..100 {
            cache
                .set(&format!("k{i}"), vec![0; 512], Duration::from_secs(60))
                .await;
        }
        cache.entries.run_pending_tasks().await;
        assert!(cache.entries.weighted_size() <= 4096);
    }
}
