//! The cache shared by every worker (L2): Redis, through a connection
//! manager that reconnects by itself.
//!
//! Redis is an optimisation, never a dependency: every command has a short
//! timeout, and any failure reads as a miss, counts in `cache_errors_total`
//! and is logged once when Redis goes away and once when it is back. While
//! it is away, commands are skipped for [`RETRY_AFTER`] between attempts so
//! a dead Redis costs requests nothing but the odd timeout.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::Cache;

/// How long one Redis command may take before it counts as a miss.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(250);
/// How long commands are skipped after a failure.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Keys are namespaced so the app can share a Redis with others.
const PREFIX: &str = "app:cache:";

/// Why a Redis command gave no answer.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// No answer within [`COMMAND_TIMEOUT`].
    #[error("redis did not answer within {COMMAND_TIMEOUT:?}")]
    Timeout,
    /// Redis refused the command or could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// The shared cache: one multiplexed connection, shared behind an `Arc`.
pub struct RedisCache {
    conn: ConnectionManager,
    /// `None` while healthy; else when to try again.
    down: Mutex<Option<Instant>>,
}

impl RedisCache {
    /// Prepares the connection without opening it, so a worker starts (and
    /// serves from L1 and the database) while Redis is down.
    pub fn connect(url: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(RETRY_AFTER);
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self {
            conn,
            down: Mutex::new(None),
        })
    }

    /// The value under `key` and how long it has left to live.
    async fn get_timed(&self, key: &str) -> Option<(Vec<u8>, Duration)> {
        let mut pipe = redis::pipe();
        pipe.get(format!("{PREFIX}{key}"))
            .pttl(format!("{PREFIX}{key}"));
        let mut conn = self.conn.clone();
        let found = self
            .run(async move { pipe.query_async::<(Option<Vec<u8>>, i64)>(&mut conn).await })
            .await?;
        match found {
            (Some(bytes), ms) if ms > 0 => Some((bytes, Duration::from_millis(ms as u64))),
            _ => None,
        }
    }

    /// Runs one command unless Redis is resting after a failure; a failure
    /// is a miss.
    async fn run<T>(&self, command: impl Future<Output = redis::RedisResult<T>>) -> Option<T> {
        if self.resting() {
            return None;
        }
        let result = match tokio::time::timeout(COMMAND_TIMEOUT, command).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(Failure::Redis(e)),
            Err(_) => Err(Failure::Timeout),
        };
        self.record(result.as_ref().err());
        result.ok()
    }

    fn resting(&self) -> bool {
        let down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        down.is_some_and(|retry_at| Instant::now() < retry_at)
    }

    /// Counts errors and logs only the transitions between up and down.
    fn record(&self, error: Option<&Failure>) {
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        match (error, down.is_some()) {
            (Some(error), was_down) => {
                metrics::counter!("cache_errors_total", "backend" => "redis").increment(1);
                if !was_down {
                    tracing::warn!(%error, "shared cache unavailable; reading through to the database");
                }
                *down = Some(Instant::now() + RETRY_AFTER);
            }
            (None, true) => {
                tracing::info!("shared cache reachable again");
                *down = None;
            }
            (None, false) => {}
        }
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.get_timed(key).await.map(|(bytes, _)| bytes)
    }

    async fn get_with_ttl(&self, key: &str) -> Option<(Vec<u8>, Option<Duration>)> {
        let (bytes, ttl) = self.get_timed(key).await?;
        Some((bytes, Some(ttl)))
    }

    /// Stores `value` under `key` for `ttl` (at least a millisecond).
    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{PREFIX}{key}"))
            .arg(value)
            .arg("PX")
            .arg(ms);
        let mut conn = self.conn.clone();
        self.run(async move { cmd.query_async::<()>(&mut conn).await })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_redis_reads_as_a_miss() {
        // Port 1 on loopback refuses connections at once.
        let redis = RedisCache::connect("redis://127.0.0.1:1").unwrap();
        redis.set("k", b"v".to_vec(), Duration::from_secs(5)).await;
        assert_eq!(redis.get("k").await, None);
    }

    #[tokio::test]
    async fn a_hit_tells_its_remaining_time() {
        let Ok(url) = std::env::var("TEST_REDIS_URL") else {
            eprintln!("skipped: TEST_REDIS_URL is unset");
            return;
        };
        let redis = RedisCache::connect(&url).unwrap();
        let key = format!("test:{}", uuid::Uuid::now_v7());
        redis.set(&key, b"v".to_vec(), Duration::from_secs(5)).await;
        let (bytes, ttl) = redis.get_with_ttl(&key).await.expect("redis answers");
        assert_eq!(bytes, b"v");
        let ttl = ttl.expect("redis knows the time left");
        assert!(ttl > Duration::from_secs(3) && ttl <= Duration::from_secs(5));
    }
}
