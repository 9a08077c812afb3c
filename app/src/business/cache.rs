//! Read-through caching of post reads and tag counts.
//!
//! Every key carries the database's content generation, which the data
//! layer sets to a new random value in the same transaction as every write
//! to posts, tags or comments (random, so databases sharing a Redis never
//! meet on a key). After a write is acknowledged, every worker reads the new
//! generation first, so entries made before the write are never reached
//! again (they simply age out). Entries hold what the repository returned,
//! before any visibility decision, so one entry serves every viewer whose
//! query is the same. A failing cache or generation read is a miss, never
//! an error. Records are stored through private serde mirrors (`records`)
//! because the data models deliberately carry no serde derives.
//!
//! Only entries whose keys are bounded by what the database holds go to the
//! shared cache (Redis, which has no byte bound): a search, a lookup of
//! something that does not exist, or an empty page has a key a client can
//! vary without end, so it is kept in process only ([`Reach::Local`]),
//! where the cache is bounded in bytes.

mod records;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::business::error::ServiceResult;
use crate::data::PostRepository;
use crate::infrastructure::cache::Cache;

/// The cache as the services use it.
pub(crate) struct ReadCache {
    cache: Arc<dyn Cache>,
    posts: Arc<dyn PostRepository>,
    ttl: Duration,
}

impl ReadCache {
    pub(crate) fn new(
        cache: Arc<dyn Cache>,
        posts: Arc<dyn PostRepository>,
        ttl: Duration,
    ) -> Self {
        Self { cache, posts, ttl }
    }

    /// The cached value of `kind`/`key` at the current generation, or what
    /// `load` returns (then stored as far as `reach` and the value allow).
    /// Errors of `load` are not cached.
    pub(crate) async fn read<T, F>(
        &self,
        kind: &'static str,
        key: &str,
        reach: Reach,
        load: F,
    ) -> ServiceResult<T>
    where
        T: Cached,
        F: Future<Output = ServiceResult<T>>,
    {
        self.current().await.read(kind, key, reach, load).await
    }

    /// The current generation, read once for every read of one request
    /// (a lookup that falls back from one key to another, say).
    pub(crate) async fn current(&self) -> Generation<'_> {
        Generation {
            cache: self,
            generation: self.posts.content_generation().await.ok(),
        }
    }
}

/// The cache at one content generation; `None` when it could not be read,
/// and then every read goes to the database.
pub(crate) struct Generation<'a> {
    cache: &'a ReadCache,
    generation: Option<i64>,
}

impl Generation<'_> {
    /// [`ReadCache::read`] at this generation.
    pub(crate) async fn read<T, F>(
        &self,
        kind: &'static str,
        key: &str,
        reach: Reach,
        load: F,
    ) -> ServiceResult<T>
    where
        T: Cached,
        F: Future<Output = ServiceResult<T>>,
    {
        let Some(generation) = self.generation else {
            return load.await;
        };
        let cache = &self.cache.cache;
        let key = format!("corral:v1:{kind}:{generation}:{key}");
        if let Some(value) = cache.get(&key).await.and_then(|bytes| T::decode(&bytes)) {
            metrics::counter!("app_cache_hits_total", "kind" => kind).increment(1);
            return Ok(value);
        }
        metrics::counter!("app_cache_misses_total", "kind" => kind).increment(1);
        let value = load.await?;
        let ttl = self.cache.ttl;
        match (value.encode(), reach == Reach::Shared && value.shareable()) {
            (Some(bytes), true) => cache.set(&key, bytes, ttl).await,
            (Some(bytes), false) => cache.set_local(&key, bytes, ttl).await,
            (None, _) => {}
        }
        Ok(value)
    }
}

/// Which caches may keep a read's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// Every cache, the shared one included: for keys bounded by the data.
    Shared,
    /// Only this process' cache: for keys a client can make up without end.
    Local,
}

/// A value that can live in the cache.
pub(crate) trait Cached: Sized {
    /// The bytes to store; `None` skips caching.
    fn encode(&self) -> Option<Vec<u8>>;
    /// The value back; `None` (a corrupt or outdated entry) is a miss.
    fn decode(bytes: &[u8]) -> Option<Self>;
    /// Whether the value may go to the shared cache; an answer of "nothing
    /// there" may not, since its key names what does not exist.
    fn shareable(&self) -> bool {
        true
    }
}
