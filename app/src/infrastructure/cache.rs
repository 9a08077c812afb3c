//! Caches of read results: in process (values ready to answer with) and
//! optionally in Redis (serialized bytes, shared by every worker).
//!
//! Consistency comes from the keys, not from invalidation messages: callers
//! put the database's content generation (changed by every write) into each
//! key, so after an acknowledged write no worker can read an entry made
//! before it, whatever cache it holds.

pub mod memory;
pub mod shared;

use std::time::Duration;

use async_trait::async_trait;

/// A byte cache shared by workers; every method is best-effort: a failing
/// backend behaves as a miss and is reported in health and metrics, never
/// as an error.
#[async_trait]
pub trait Cache: Send + Sync {
    /// The cached bytes for `key`, if any.
    async fn get(&self, key: &str) -> Option<Vec<u8>>;
    /// Stores `value` under `key` for at most `ttl`.
    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration);
    /// The cached bytes for `key` and how long they have left to live, so a
    /// copy kept in process expires no later; `None` for the time when the
    /// cache does not know it (the copy then lives the caller's own TTL).
    async fn get_with_ttl(&self, key: &str) -> Option<(Vec<u8>, Option<Duration>)> {
        self.get(key).await.map(|bytes| (bytes, None))
    }
}
