//! A cache of serialized read results, in process and optionally in Redis.
//!
//! Consistency comes from the keys, not from invalidation messages: callers
//! put the database's content generation (changed in the same transaction as
//! every write) into each key, so after an acknowledged write no worker can
//! read an entry made before it, whatever cache it holds.

pub mod memory;
pub mod shared;
pub mod tiered;

use std::time::Duration;

use async_trait::async_trait;

/// A byte cache; every method is best-effort: a failing backend behaves as
/// a miss and is reported in health and metrics, never as an error.
#[async_trait]
pub trait Cache: Send + Sync {
    /// The cached bytes for `key`, if any.
    async fn get(&self, key: &str) -> Option<Vec<u8>>;
    /// Stores `value` under `key` for at most `ttl`.
    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration);
    /// Stores `value` only where memory is bounded in bytes (this process'
    /// cache), never in a shared cache: for entries whose keys a client
    /// can make up without end (searches, lookups of what does not exist),
    /// which would otherwise fill Redis. By default nothing is stored, the
    /// safe choice for a cache that does not know its bound.
    async fn set_local(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        let _ = (key, value, ttl);
    }
}
