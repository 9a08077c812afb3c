//! The in-process cache (L1): moka, bounded in bytes, with per-entry TTL.
//!
//! It holds values, not bytes: a hit hands out the very value (behind an
//! `Arc`) that an earlier request loaded, with whatever that request made
//! of it (its JSON, say), so a hit does no decoding or encoding. Each
//! worker has its own; it needs no invalidation, because keys carry the
//! content generation (see the parent module).

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;

/// The byte budget of one worker's cache when the caller has no opinion.
/// Enough for thousands of posts and list pages; every worker has its own,
/// and keys of an old content generation are dead weight until evicted, so
/// a larger default mostly grows each worker (at 64 MiB a worker on a busy
/// PostgreSQL reached 60 MiB of RSS). `APP_CACHE_MIB` sets it.
pub const DEFAULT_CAPACITY_BYTES: u64 = 8 * 1024 * 1024;

/// A cached value, of whatever type its key's reader stores.
pub type Value = Arc<dyn Any + Send + Sync>;

/// How much more heap a cached value takes than the weight its type states
/// (its data and rendering): allocator rounding and headers, the map's
/// own entries and the key. Measured on PostgreSQL under a write-heavy mix:
/// a full budget of 8 MiB in stated weights held 18 MiB of heap. With it,
/// the budget bounds memory, not a count of payload bytes.
const HEAP_PER_STATED_BYTE: u32 = 2;

/// A value, what it is taken to weigh, and how long it may live.
#[derive(Clone)]
struct Entry {
    value: Value,
    weight: u32,
    ttl: Duration,
}

/// Each entry lives for the TTL it was stored with.
struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, entry: &Entry, _at: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// A size-bounded, TTL-respecting in-process cache of values.
#[derive(Clone)]
pub struct MemoryCache {
    entries: moka::future::Cache<String, Entry>,
}

impl MemoryCache {
    /// A cache that evicts the least useful entries beyond
    /// `capacity_bytes` (keys and the heap the values take counted, see
    /// [`HEAP_PER_STATED_BYTE`]).
    /// Once full, moka admits a new key only when it is likely to be used
    /// more than what it would evict, so one-off keys (searches) do not
    /// push out popular entries.
    pub fn new(capacity_bytes: u64) -> Self {
        let entries = moka::future::Cache::builder()
            .max_capacity(capacity_bytes)
            .weigher(|key: &String, entry: &Entry| {
                u32::try_from(key.len())
                    .unwrap_or(u32::MAX)
                    .saturating_add(entry.weight)
            })
            .expire_after(PerEntryTtl)
            .build();
        Self { entries }
    }

    /// The value under `key`, if any.
    pub async fn get(&self, key: &str) -> Option<Value> {
        self.entries.get(key).await.map(|entry| entry.value)
    }

    /// Drops every entry: what is stored from now on is all `get` sees,
    /// and the memory of the rest is freed as the cache tidies up.
    pub fn clear(&self) {
        self.entries.invalidate_all();
    }

    /// Stores `value`, whose type says it weighs `weight` bytes, for at
    /// most `ttl`.
    pub async fn insert(&self, key: String, value: Value, weight: usize, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let weight = u32::try_from(weight)
            .unwrap_or(u32::MAX)
            .saturating_mul(HEAP_PER_STATED_BYTE);
        let entry = Entry { value, weight, ttl };
        self.entries.insert(key, entry).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: Option<Value>) -> Option<&'static str> {
        value.and_then(|v| v.downcast_ref::<&'static str>().copied())
    }

    #[tokio::test]
    async fn stores_and_expires() {
        let cache = MemoryCache::new(1024);
        cache
            .insert("a".into(), Arc::new("one"), 3, Duration::from_secs(60))
            .await;
        cache
            .insert("b".into(), Arc::new("two"), 3, Duration::from_millis(20))
            .await;
        assert_eq!(text(cache.get("a").await), Some("one"));
        assert_eq!(text(cache.get("b").await), Some("two"));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(cache.get("b").await.is_none());
        assert!(cache.get("missing").await.is_none());
    }

    #[tokio::test]
    async fn stays_within_its_byte_budget() {
        let cache = MemoryCache::new(4096);
        for i in 0..100 {
            cache
                .insert(format!("k{i}"), Arc::new(i), 512, Duration::from_secs(60))
                .await;
        }
        cache.entries.run_pending_tasks().await;
        assert!(cache.entries.weighted_size() <= 4096);
    }

    /// moka admits no entry heavier than the budget, and every entry
    /// weighs at least its key: `APP_CACHE_MIB=0` needs nothing more.
    #[tokio::test]
    async fn a_budget_of_zero_stores_nothing() {
        let cache = MemoryCache::new(0);
        cache
            .insert("a".into(), Arc::new("one"), 3, Duration::from_secs(60))
            .await;
        assert!(cache.get("a").await.is_none());
    }
}
