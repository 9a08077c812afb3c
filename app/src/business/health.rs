//! Health of what a request depends on, for `/health` and `/metrics`.
//!
//! The database decides: unreachable (or slower than the timeout) is
//! `fail`, slow is `warn`. A shared cache that does not answer is only
//! `warn`: requests still succeed without it, so the worker stays in
//! rotation. No error text is reported, only statuses and timings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::data::{Database, PoolUsage};
use crate::infrastructure::cache::Cache;

/// Longest wait for a database or cache round trip.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// A round trip slower than this is reported as `warn`.
pub const SLOW: Duration = Duration::from_millis(500);

/// The IETF health-check statuses, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HealthStatus {
    /// Healthy.
    Pass,
    /// Serving, but degraded.
    Warn,
    /// Not able to serve.
    Fail,
}

/// One component's measured round trip.
#[derive(Debug, Clone)]
pub struct Check {
    /// The check's key, e.g. `database:responseTime`.
    pub name: &'static str,
    /// `datastore` or `component`.
    pub component_type: &'static str,
    /// How long the round trip took (or the timeout).
    pub observed: Duration,
    /// Its status.
    pub status: HealthStatus,
    /// When it was measured.
    pub time: DateTime<Utc>,
}

/// The overall status and every check.
#[derive(Debug, Clone)]
pub struct HealthReport {
    /// The worst status of the checks.
    pub status: HealthStatus,
    /// The checks made.
    pub checks: Vec<Check>,
}

/// Measures the database and, when configured, the shared cache.
pub struct HealthService {
    database: Arc<dyn Database>,
    shared_cache: Option<Arc<dyn Cache>>,
}

impl HealthService {
    pub(crate) fn new(database: Arc<dyn Database>) -> Self {
        Self {
            database,
            shared_cache: None,
        }
    }

    pub(crate) fn set_shared_cache(&mut self, cache: Arc<dyn Cache>) {
        self.shared_cache = Some(cache);
    }

    /// Pings the database and round-trips a probe through the shared cache.
    pub async fn check(&self) -> HealthReport {
        let mut checks = vec![self.check_database().await];
        if let Some(cache) = &self.shared_cache {
            checks.push(check_cache(cache.as_ref()).await);
        }
        let status = checks
            .iter()
            .map(|check| check.status)
            .max()
            .unwrap_or(HealthStatus::Pass);
        HealthReport { status, checks }
    }

    async fn check_database(&self) -> Check {
        let started = Instant::now();
        let answered = tokio::time::timeout(CHECK_TIMEOUT, self.database.ping()).await;
        let observed = started.elapsed();
        let status = match answered {
            Ok(Ok(())) => timed(observed),
            Ok(Err(_)) | Err(_) => HealthStatus::Fail,
        };
        let time = Utc::now();
        Check {
            name: "database:responseTime",
            component_type: "datastore",
            observed,
            status,
            time,
        }
    }

    /// Connections of the database pool, for the gauges of `/metrics`.
    pub fn pool_usage(&self) -> PoolUsage {
        self.database.pool_usage()
    }

    /// The database backend's name (`sqlite` or `postgres`).
    pub fn backend(&self) -> &'static str {
        self.database.backend()
    }
}

async fn check_cache(cache: &dyn Cache) -> Check {
    let started = Instant::now();
    let key = format!("corral:health:{}", Uuid::now_v7());
    let value = key.clone().into_bytes();
    let round_trip = async {
        cache.set(&key, value.clone(), CHECK_TIMEOUT).await;
        cache.get(&key).await
    };
    let answered = tokio::time::timeout(CHECK_TIMEOUT, round_trip).await;
    let observed = started.elapsed();
    let status = match answered {
        Ok(Some(read)) if read == value => timed(observed),
        _ => HealthStatus::Warn,
    };
    let time = Utc::now();
    Check {
        name: "cache:responseTime",
        component_type: "component",
        observed,
        status,
        time,
    }
}

fn timed(observed: Duration) -> HealthStatus {
    if observed > SLOW {
        HealthStatus::Warn
    } else {
        HealthStatus::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_status_wins() {
        assert!(HealthStatus::Fail > HealthStatus::Warn && HealthStatus::Warn > HealthStatus::Pass);
        assert_eq!(timed(Duration::from_millis(3)), HealthStatus::Pass);
        assert_eq!(timed(SLOW + Duration::from_millis(1)), HealthStatus::Warn);
    }
}
