//! Health of what a request depends on, for `/health` and `/metrics`.
//!
//! The database decides: unreachable (or slower than the timeout) is
//! `fail`, slow is `warn`. A shared cache that does not answer is only
//! `warn`: requests still succeed without it, so the worker stays in
//! rotation. So is a read replica that is set aside (down, not a replica,
//! or lagging beyond its bound): the primary serves its reads. No error
//! text is reported, only statuses and timings.
//!
//! A passing report answers for [`FRESH`], and requests that arrive while a
//! check runs share it: however often `/health` is asked (a load balancer,
//! a benchmark, a client hammering it), a worker pings the database at most
//! about once per [`FRESH`], so `/health` cannot load the database it
//! reports on. A report that is not `pass` is never reused: the next request
//! measures again, so a recovery shows at once.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use uuid::Uuid;

use crate::business::Shared;
use crate::data::{Database, PoolUsage, ReplicaHealth};
use crate::infrastructure::cache::Cache;

/// Longest wait for a database or cache round trip.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// A round trip slower than this is reported as `warn`.
pub const SLOW: Duration = Duration::from_millis(500);
/// How long a passing report answers for, counted from its check's start.
pub const FRESH: Duration = Duration::from_millis(100);

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
    /// Which of several components of that key it is (a replica's masked
    /// URL), if there can be several.
    pub component_id: Option<String>,
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
    /// The last report and the check running now; never held across an
    /// await.
    state: Arc<Mutex<Checks>>,
}

/// What [`HealthService::check`] may answer with without measuring.
#[derive(Default)]
struct Checks {
    /// The last report, with its check's start.
    latest: Option<(Instant, Arc<Shared<HealthReport>>)>,
    /// Where the running check's report will be sent.
    running: Option<watch::Receiver<Option<Arc<Shared<HealthReport>>>>>,
}

/// Whether a report of `status`, whose check started `age` ago, may answer
/// a request now.
fn reusable(status: HealthStatus, age: Duration) -> bool {
    status == HealthStatus::Pass && age < FRESH
}

impl HealthService {
    pub(crate) fn new(database: Arc<dyn Database>) -> Self {
        Self {
            database,
            shared_cache: None,
            state: Arc::default(),
        }
    }

    pub(crate) fn set_shared_cache(&mut self, cache: Arc<dyn Cache>) {
        self.shared_cache = Some(cache);
    }

    /// The database's and the shared cache's health: a passing report
    /// younger than [`FRESH`], the check running now, or a new check. The
    /// check runs in a task of its own, so a client that goes away does not
    /// cancel it for the others waiting on it. Every request answered with
    /// one report shares it, with its rendering.
    pub async fn check(&self) -> Arc<Shared<HealthReport>> {
        let mut running = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((started, report)) = &state.latest
                && reusable(report.value().status, started.elapsed())
            {
                return Arc::clone(report);
            }
            match &state.running {
                Some(running) => running.clone(),
                None => {
                    let running = self.start_check();
                    state.running = Some(running.clone());
                    running
                }
            }
        };
        let sent = running
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|report| report.clone());
        match sent {
            Some(report) => report,
            // The check's task died (a panic): measure here, and let the
            // next request start afresh.
            None => {
                self.state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .running = None;
                Arc::new(Shared::new(
                    measure(Arc::clone(&self.database), self.shared_cache.clone()).await,
                ))
            }
        }
    }

    /// Starts a check in its own task; its report is sent on the returned
    /// channel and kept as the latest.
    fn start_check(&self) -> watch::Receiver<Option<Arc<Shared<HealthReport>>>> {
        let (report_to, report) = watch::channel(None);
        let database = Arc::clone(&self.database);
        let cache = self.shared_cache.clone();
        let state = Arc::clone(&self.state);
        tokio::spawn(async move {
            let started = Instant::now();
            let measured = Arc::new(Shared::new(measure(database, cache).await));
            let mut checks = state.lock().unwrap_or_else(PoisonError::into_inner);
            checks.latest = Some((started, Arc::clone(&measured)));
            checks.running = None;
            drop(checks);
            let _ = report_to.send(Some(measured));
        });
        report
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

/// Pings the database and round-trips a probe through the shared cache.
async fn measure(database: Arc<dyn Database>, cache: Option<Arc<dyn Cache>>) -> HealthReport {
    let mut checks = vec![check_database(database.as_ref()).await];
    if let Some(cache) = &cache {
        checks.push(check_cache(cache.as_ref()).await);
    }
    checks.extend(database.replicas().into_iter().map(check_replica));
    let status = checks
        .iter()
        .map(|check| check.status)
        .max()
        .unwrap_or(HealthStatus::Pass);
    HealthReport { status, checks }
}

async fn check_database(database: &dyn Database) -> Check {
    let started = Instant::now();
    let answered = tokio::time::timeout(CHECK_TIMEOUT, database.ping()).await;
    let observed = started.elapsed();
    let status = match answered {
        Ok(Ok(())) => timed(observed),
        Ok(Err(_)) | Err(_) => HealthStatus::Fail,
    };
    let time = Utc::now();
    Check {
        name: "database:responseTime",
        component_id: None,
        component_type: "datastore",
        observed,
        status,
        time,
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
        component_id: None,
        component_type: "component",
        observed,
        status,
        time,
    }
}

/// A read replica, as its poller last saw it: `pass` while reads may use
/// it, else `warn` (its reads go to the primary). The observed value is its
/// lag behind the primary (zero when unknown: it does not answer).
fn check_replica(replica: ReplicaHealth) -> Check {
    Check {
        name: "replica:lag",
        component_id: Some(replica.name),
        component_type: "datastore",
        observed: replica.lag.unwrap_or_default(),
        status: if replica.usable {
            HealthStatus::Pass
        } else {
            HealthStatus::Warn
        },
        time: Utc::now(),
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

    #[test]
    fn only_a_fresh_pass_is_reused() {
        assert!(reusable(HealthStatus::Pass, Duration::ZERO));
        assert!(reusable(
            HealthStatus::Pass,
            FRESH - Duration::from_millis(1)
        ));
        assert!(!reusable(HealthStatus::Pass, FRESH));
        assert!(!reusable(HealthStatus::Warn, Duration::ZERO));
        assert!(!reusable(HealthStatus::Fail, Duration::ZERO));
    }
}
