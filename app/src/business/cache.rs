//! Read-through caching of post reads and tag counts.
//!
//! Every key carries the database's content generation
//! ([`ContentGeneration`]), which changes with every write to posts, tags
//! or comments and is unique per database (so databases sharing a Redis
//! never meet on a key). After a write is acknowledged, every worker reads
//! the new generation first, so entries made before the write are never
//! reached again: the first entry this process stores under a new
//! generation drops its entries of older ones (under a write-heavy mix
//! they filled the whole budget with entries no read could reach; bench
//! S5 left workers at 30-33 MiB of RSS). A value loaded while a write may be
//! landing is not stored (`ContentGeneration::still`). Entries hold what
//! the repository returned, before any visibility decision, so one entry
//! serves every viewer whose query is the same; the caller decides
//! visibility on every hit. A failing cache or generation read is a miss,
//! never an error, except a generation read that found the database
//! unreachable: the load would only wait on the same outage again.
//!
//! In process, an entry is a [`Shared`] value: every hit gets the same
//! one, with its rendering (JSON body and ETag) made by the first request
//! that needed it, so a hit does no JSON work. The shared cache (Redis)
//! holds the value serialized through private serde mirrors (`records`,
//! since the data models carry no serde derives); a Redis hit is decoded
//! once and kept in process for the time it has left there.
//!
//! Only entries whose keys are bounded by what the database holds go to the
//! shared cache (Redis, which has no byte bound): a search, a lookup of
//! something that does not exist, or an empty page has a key a client can
//! vary without end, so it is kept in process only ([`Reach::Local`]),
//! where the cache is bounded in bytes.

mod records;

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use bytes::Bytes;

use crate::business::error::{ServiceError, ServiceResult};
use crate::data::{ContentGeneration, Generation, unreachable};
use crate::infrastructure::cache::Cache;
use crate::infrastructure::cache::memory::MemoryCache;

/// A value as every request for its key shares it, with room for the one
/// rendering of it that every response repeats.
#[derive(Debug)]
pub struct Shared<T> {
    value: T,
    rendered: OnceLock<Rendered>,
}

/// A value ready to send: its body and, when it has one, its tag (ETag).
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The serialized body.
    pub body: Bytes,
    /// The entity tag, quotes included.
    pub tag: Option<String>,
}

impl<T> Shared<T> {
    /// A value not rendered yet.
    pub fn new(value: T) -> Self {
        Self {
            value,
            rendered: OnceLock::new(),
        }
    }

    /// The value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// Its rendering, made by `render` the first time only: a rendering
    /// must depend on the value alone, never on who asks.
    pub fn rendered(&self, render: impl FnOnce(&T) -> Rendered) -> &Rendered {
        self.rendered.get_or_init(|| render(&self.value))
    }
}

/// The cache as the services use it.
pub(crate) struct ReadCache {
    local: MemoryCache,
    shared: Option<Arc<dyn Cache>>,
    generation: Arc<dyn ContentGeneration>,
    ttl: Duration,
    /// The generation of the last entry kept in process.
    kept_at: Mutex<Option<Generation>>,
}

impl ReadCache {
    pub(crate) fn new(
        local: MemoryCache,
        shared: Option<Arc<dyn Cache>>,
        generation: Arc<dyn ContentGeneration>,
        ttl: Duration,
    ) -> Self {
        Self {
            local,
            shared,
            generation,
            ttl,
            kept_at: Mutex::new(None),
        }
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
    ) -> ServiceResult<Arc<Shared<T>>>
    where
        T: Cached,
        F: Future<Output = ServiceResult<T>>,
    {
        self.current().await.read(kind, key, reach, load).await
    }

    /// Keeps `value` in process under `key` of `generation` for `ttl` and
    /// hands it out; the first of a new generation drops the entries of
    /// the one before.
    async fn keep<T: Cached>(
        &self,
        generation: Generation,
        key: String,
        value: T,
        ttl: Duration,
    ) -> Arc<Shared<T>> {
        let before = self
            .kept_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(generation);
        if before.is_some_and(|before| before != generation) {
            self.local.clear();
        }
        let weight = value.weight();
        let entry = Arc::new(Shared::new(value));
        self.local.insert(key, entry.clone(), weight, ttl).await;
        entry
    }

    /// The current generation, read once for every read of one request
    /// (a lookup that falls back from one key to another, say).
    pub(crate) async fn current(&self) -> At<'_> {
        let read = self.generation.current().await;
        At {
            cache: self,
            unreachable: read.as_ref().is_err_and(unreachable),
            generation: read.ok(),
        }
    }
}

/// The cache at one content generation; `None` when it could not be read,
/// and then every read goes to the database, unless the failure said the
/// database cannot be reached: then every read fails at once, rather than
/// wait on the same outage a second time.
pub(crate) struct At<'a> {
    cache: &'a ReadCache,
    generation: Option<Generation>,
    unreachable: bool,
}

impl At<'_> {
    /// [`ReadCache::read`] at this generation.
    pub(crate) async fn read<T, F>(
        &self,
        kind: &'static str,
        key: &str,
        reach: Reach,
        load: F,
    ) -> ServiceResult<Arc<Shared<T>>>
    where
        T: Cached,
        F: Future<Output = ServiceResult<T>>,
    {
        if self.unreachable {
            return Err(ServiceError::Unavailable {
                during: "reading the content generation",
                source: "the database could not be reached".into(),
            });
        }
        let Some(generation) = self.generation else {
            return Ok(Arc::new(Shared::new(load.await?)));
        };
        let cache = self.cache;
        let key = format!("corral:v2:{kind}:{generation}:{key}");
        if let Some(hit) = cache.local.get(&key).await
            && let Ok(hit) = hit.downcast::<Shared<T>>()
        {
            count("memory", true);
            metrics::counter!("app_cache_hits_total", "kind" => kind).increment(1);
            return Ok(hit);
        }
        count("memory", false);
        let shared = cache.shared.as_ref().filter(|_| reach == Reach::Shared);
        if let Some(shared) = shared {
            let found = shared.get_with_ttl(&key).await;
            count("redis", found.is_some());
            if let Some((bytes, ttl)) = found
                && let Some(value) = T::decode(&bytes)
            {
                metrics::counter!("app_cache_hits_total", "kind" => kind).increment(1);
                let ttl = ttl.unwrap_or(cache.ttl).min(cache.ttl);
                return Ok(cache.keep(generation, key, value, ttl).await);
            }
        }
        metrics::counter!("app_cache_misses_total", "kind" => kind).increment(1);
        let value = load.await?;
        if !cache.generation.still(generation) {
            return Ok(Arc::new(Shared::new(value)));
        }
        if let Some(shared) = shared.filter(|_| value.shareable())
            && let Some(bytes) = value.encode()
        {
            shared.set(&key, bytes, cache.ttl).await;
        }
        Ok(cache.keep(generation, key, value, cache.ttl).await)
    }
}

/// Counts a hit or a miss of one cache layer (`memory` or `redis`).
fn count(layer: &'static str, hit: bool) {
    if hit {
        metrics::counter!("cache_hits_total", "layer" => layer).increment(1);
    } else {
        metrics::counter!("cache_misses_total", "layer" => layer).increment(1);
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
pub(crate) trait Cached: Sized + Send + Sync + 'static {
    /// The bytes to store in the shared cache; `None` skips it.
    fn encode(&self) -> Option<Vec<u8>>;
    /// The value back; `None` (a corrupt or outdated entry) is a miss.
    fn decode(bytes: &[u8]) -> Option<Self>;
    /// Whether the value may go to the shared cache; an answer of "nothing
    /// there" may not, since its key names what does not exist.
    fn shareable(&self) -> bool {
        true
    }
    /// Roughly the bytes it holds in process, its rendering included.
    fn weight(&self) -> usize;
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::data::{DataError, DataResult};

    /// A generation whose read fails with `error`.
    struct Failing(fn() -> DataError);

    #[async_trait]
    impl ContentGeneration for Failing {
        async fn current(&self) -> DataResult<Generation> {
            Err((self.0)())
        }
        fn still(&self, _taken: Generation) -> bool {
            true
        }
    }

    /// Reads through a cache whose generation fails with `error`; whether
    /// the load ran.
    async fn loads(error: fn() -> DataError) -> (bool, bool) {
        let cache = ReadCache::new(
            MemoryCache::new(1 << 20),
            None,
            Arc::new(Failing(error)),
            Duration::from_secs(1),
        );
        let loaded = AtomicBool::new(false);
        let load = async {
            loaded.store(true, Ordering::Relaxed);
            Ok(None::<crate::data::Post>)
        };
        let read = cache.read("post", "id:x", Reach::Shared, load).await;
        (read.is_ok(), loaded.load(Ordering::Relaxed))
    }

    /// A generation a test moves on by hand.
    struct Manual(Mutex<u64>);

    #[async_trait]
    impl ContentGeneration for Manual {
        async fn current(&self) -> DataResult<Generation> {
            let serial = *self.0.lock().unwrap();
            Ok(Generation { epoch: 1, serial })
        }
        fn still(&self, _taken: Generation) -> bool {
            true
        }
    }

    #[tokio::test]
    async fn the_first_entry_of_a_new_generation_drops_the_older_ones() {
        let generation = Arc::new(Manual(Mutex::new(1)));
        let cache = ReadCache::new(
            MemoryCache::new(1 << 20),
            None,
            generation.clone(),
            Duration::from_secs(60),
        );
        let read = |key: &'static str| {
            let cache = &cache;
            async move {
                cache
                    .read("tags", key, Reach::Local, async {
                        Ok(Vec::<crate::data::TagCount>::new())
                    })
                    .await
                    .unwrap();
            }
        };
        read("a").await;
        read("b").await;
        let older = |key: &str| format!("corral:v2:tags:1.1:{key}");
        assert!(cache.local.get(&older("a")).await.is_some());
        assert!(
            cache.local.get(&older("b")).await.is_some(),
            "same generation: kept"
        );
        *generation.0.lock().unwrap() = 2;
        read("a").await;
        assert!(cache.local.get(&older("a")).await.is_none());
        assert!(cache.local.get(&older("b")).await.is_none());
        assert!(cache.local.get("corral:v2:tags:1.2:a").await.is_some());
    }

    #[tokio::test]
    async fn an_unreachable_database_is_not_asked_twice() {
        let timed_out = || DataError::from(sqlx::Error::PoolTimedOut);
        assert_eq!(loads(timed_out).await, (false, false));
        let other = || DataError::Unavailable("the generation file is odd".into());
        assert_eq!(
            loads(other).await,
            (true, true),
            "any other failure is a miss"
        );
    }
}
