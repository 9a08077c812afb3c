//! Read replicas (`DATABASE_REPLICA_URLS`): reads go to a streaming
//! replica only when it has replayed every write they must see.
//!
//! What a read must see is what the primary alone would show it: every
//! write acknowledged before the read arrived, on any host. So a read first
//! learns the primary's WAL position (its flush LSN, read with the content
//! generation by one query per batch of requests, see `generation`), and a
//! replica serves it only if the replica's replay position is at least
//! that far; otherwise the primary does. A list loaded this way and cached
//! under the generation read in the same round cannot be older than that
//! generation, so a lagging replica never poisons the cache.
//!
//! Each replica's replay position comes from a poller of its own, never
//! from the request: a read never waits for a replica. The poller asks
//! every [`IDLE_POLL`], and at once (then every [`BUSY_POLL`]) while reads
//! found the replica behind, so a replica that keeps up is used again
//! within milliseconds of a write. A replica that does not answer, or that
//! lags more than the configured bound, is set aside: reads go to the
//! primary, `/health` shows it as `warn`, and the poller keeps asking, so
//! it comes back on its own.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::Notify;

use crate::data::ReplicaHealth;

/// How often a replica's replay position is read while no read waits on it.
pub(super) const IDLE_POLL: Duration = Duration::from_millis(500);
/// How often while reads find it behind.
pub(super) const BUSY_POLL: Duration = Duration::from_millis(5);
/// How long one poll may take before the replica counts as not answering.
const POLL_TIMEOUT: Duration = Duration::from_secs(1);
/// How many of the primary's recent positions are kept to measure lag.
const MARKS: usize = 256;

/// A WAL position in bytes (`pg_lsn - '0/0'`).
pub(crate) type Lsn = u64;

/// The primary's recent positions with when they were seen, oldest first:
/// what a replica's replay position is measured against.
#[derive(Debug, Default)]
pub(super) struct Marks(VecDeque<(Instant, Lsn)>);

impl Marks {
    /// Notes that the primary was at `lsn` at `at`.
    pub(super) fn note(&mut self, at: Instant, lsn: Lsn) {
        if self.0.back().is_some_and(|&(_, last)| last >= lsn) {
            return;
        }
        if self.0.len() == MARKS {
            self.0.pop_front();
        }
        self.0.push_back((at, lsn));
    }

    /// How far behind a replica that has replayed up to `replayed` is at
    /// `now`: the age of the oldest position of the primary it has not
    /// reached, or zero when it has reached them all.
    pub(super) fn lag(&self, replayed: Lsn, now: Instant) -> Duration {
        self.0
            .iter()
            .find(|&&(_, lsn)| lsn > replayed)
            .map_or(Duration::ZERO, |&(at, _)| now.saturating_duration_since(at))
    }
}

/// What the poller last learnt of one replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Seen {
    /// Not asked yet.
    Unknown,
    /// Replayed up to this position.
    Replayed(Lsn),
    /// Did not answer, or is not a replica (not in recovery).
    Unusable,
}

/// Whether a replica that was last seen as `seen`, lagging `lag`, may
/// serve a read that must see every write up to `needed`.
pub(super) fn serves(seen: Seen, lag: Duration, max_lag: Duration, needed: Lsn) -> bool {
    matches!(seen, Seen::Replayed(replayed) if replayed >= needed) && lag <= max_lag
}

/// One replica: its pool and what its poller last saw.
pub(super) struct Replica {
    /// Its URL with the password masked, for logs and `/health`.
    pub(super) name: String,
    pub(super) pool: PgPool,
    seen: Mutex<Seen>,
    /// Wakes the poller when a read found the replica behind.
    behind: Notify,
}

/// Every replica, and the primary's recent positions.
pub(crate) struct Replicas {
    list: Vec<Arc<Replica>>,
    marks: Mutex<Marks>,
    max_lag: Duration,
    /// Where the next read starts looking, so reads spread over replicas.
    next: AtomicUsize,
}

impl Replicas {
    /// The replicas of `pools` (named by their masked URLs); none for a
    /// primary alone. Starts one poller per replica.
    pub(super) fn start(pools: Vec<(String, PgPool)>, max_lag: Duration) -> Arc<Self> {
        let list: Vec<Arc<Replica>> = pools
            .into_iter()
            .map(|(name, pool)| {
                Arc::new(Replica {
                    name,
                    pool,
                    seen: Mutex::new(Seen::Unknown),
                    behind: Notify::new(),
                })
            })
            .collect();
        let replicas = Arc::new(Self {
            list,
            marks: Mutex::default(),
            max_lag,
            next: AtomicUsize::new(0),
        });
        for replica in &replicas.list {
            tokio::spawn(poll(Arc::clone(replica), Arc::downgrade(&replicas)));
        }
        replicas
    }

    /// Whether there are replicas at all.
    pub(super) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Notes the primary's position, read at `at` (by each round of the
    /// generation's query); nothing to note without replicas.
    pub(super) fn note_primary(&self, at: Instant, lsn: Lsn) {
        if self.list.is_empty() {
            return;
        }
        self.marks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .note(at, lsn);
    }

    /// A replica that may serve a read which must see every write up to
    /// `needed`, taking them in turn; `None` sends the read to the primary
    /// (and wakes the pollers of the replicas that were behind).
    pub(super) fn pick(&self, needed: Lsn) -> Option<Arc<Replica>> {
        let now = Instant::now();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.list.len();
        for i in 0..count {
            let replica = &self.list[(start + i) % count];
            let seen = replica.seen();
            if serves(seen, self.lag_of(seen, now), self.max_lag, needed) {
                return Some(Arc::clone(replica));
            }
            if matches!(seen, Seen::Replayed(_)) {
                replica.behind.notify_one();
            }
        }
        None
    }

    /// Sets `replica` aside after a read on it failed: reads go to the
    /// primary until its poller sees it answer again.
    pub(super) fn set_aside(&self, replica: &Replica) {
        *replica.seen.lock().unwrap_or_else(PoisonError::into_inner) = Seen::Unusable;
        replica.behind.notify_one();
    }

    fn lag_of(&self, seen: Seen, now: Instant) -> Duration {
        match seen {
            Seen::Replayed(replayed) => self
                .marks
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .lag(replayed, now),
            Seen::Unknown | Seen::Unusable => Duration::MAX,
        }
    }

    /// Each replica's state for `/health`.
    pub(super) fn health(&self) -> Vec<ReplicaHealth> {
        let now = Instant::now();
        self.list
            .iter()
            .map(|replica| {
                let seen = replica.seen();
                let lag = self.lag_of(seen, now);
                ReplicaHealth {
                    name: replica.name.clone(),
                    usable: matches!(seen, Seen::Replayed(_)) && lag <= self.max_lag,
                    lag: (lag != Duration::MAX).then_some(lag),
                }
            })
            .collect()
    }

    /// Closes every replica's pool.
    pub(super) async fn close(&self) {
        for replica in &self.list {
            replica.pool.close().await;
        }
    }
}

impl Replica {
    fn seen(&self) -> Seen {
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The replay position of the server `pool` reaches; `None` when it is
/// not in recovery (a primary named as a replica by mistake).
async fn replayed(pool: &PgPool) -> Result<Option<Lsn>, sqlx::Error> {
    let lsn: Option<i64> =
        sqlx::query_scalar("SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint")
            .fetch_one(pool)
            .await?;
    Ok(lsn.map(|lsn| lsn as Lsn))
}

/// Reads `replica`'s replay position until the replicas are dropped or
/// closed: every [`IDLE_POLL`], or at once and then every [`BUSY_POLL`]
/// while reads find it behind.
async fn poll(replica: Arc<Replica>, replicas: std::sync::Weak<Replicas>) {
    let mut wanted = false;
    loop {
        // The store is gone, or closed its pools at the end of a drain: a
        // poll now would only report a replica that is fine as set aside.
        if replicas.strong_count() == 0 || replica.pool.is_closed() {
            return;
        }
        let seen = match tokio::time::timeout(POLL_TIMEOUT, replayed(&replica.pool)).await {
            Ok(Ok(Some(lsn))) => Seen::Replayed(lsn),
            Ok(Ok(None)) => {
                tracing::warn!(replica = %replica.name, "not a replica (not in recovery): reads go to the primary");
                Seen::Unusable
            }
            Ok(Err(error)) => {
                tracing::debug!(replica = %replica.name, %error, "the replica did not answer");
                Seen::Unusable
            }
            Err(_) => Seen::Unusable,
        };
        if replica.pool.is_closed() {
            return;
        }
        let before = std::mem::replace(
            &mut *replica.seen.lock().unwrap_or_else(PoisonError::into_inner),
            seen,
        );
        match (before, seen) {
            (Seen::Unusable, Seen::Replayed(_)) => {
                tracing::info!(replica = %replica.name, "the replica answers again: reads may use it")
            }
            (Seen::Replayed(_) | Seen::Unknown, Seen::Unusable) => {
                tracing::warn!(replica = %replica.name, "the replica is set aside: reads go to the primary")
            }
            _ => {}
        }
        let pause = if wanted { BUSY_POLL } else { IDLE_POLL };
        wanted = tokio::time::timeout(pause, replica.behind.notified())
            .await
            .is_ok();
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn lag_is_the_age_of_the_oldest_position_the_replica_has_not_reached() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut marks = Marks::default();
        marks.note(at(0), 100);
        marks.note(at(10), 200);
        marks.note(at(20), 200);
        marks.note(at(30), 300);
        assert_eq!(marks.lag(300, at(100)), Duration::ZERO);
        assert_eq!(marks.lag(250, at(100)), Duration::from_millis(70));
        assert_eq!(marks.lag(150, at(100)), Duration::from_millis(90));
        assert_eq!(marks.lag(0, at(100)), Duration::from_millis(100));
    }

    #[test]
    fn a_replica_serves_only_what_it_has_replayed_and_within_the_lag_bound() {
        let bound = Duration::from_secs(5);
        let short = Duration::from_millis(1);
        assert!(serves(Seen::Replayed(10), short, bound, 10));
        assert!(serves(Seen::Replayed(11), short, bound, 10));
        assert!(!serves(Seen::Replayed(9), short, bound, 10));
        assert!(!serves(
            Seen::Replayed(10),
            Duration::from_secs(6),
            bound,
            10
        ));
        assert!(!serves(Seen::Unusable, short, bound, 0));
        assert!(!serves(Seen::Unknown, short, bound, 0));
    }

    proptest! {
        /// Whatever the history, no replica serves a read needing more than
        /// it replayed, and the lag never exceeds the oldest mark's age.
        #[test]
        fn never_a_position_short_of_the_needed_one(
            positions in proptest::collection::vec(0u64..1_000, 1..50),
            replayed in 0u64..1_000,
            needed in 0u64..1_000,
        ) {
            let t0 = Instant::now();
            let mut marks = Marks::default();
            for (i, lsn) in positions.iter().enumerate() {
                marks.note(t0 + Duration::from_millis(i as u64), *lsn);
            }
            let now = t0 + Duration::from_secs(1);
            let lag = marks.lag(replayed, now);
            prop_assert!(lag <= Duration::from_secs(1));
            let ok = serves(Seen::Replayed(replayed), lag, Duration::MAX, needed);
            prop_assert_eq!(ok, replayed >= needed);
        }
    }
}
