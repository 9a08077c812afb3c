//! The PostgreSQL content generation: a random value set in the same
//! transaction as every write to posts, tags or comments (`bump_generation`),
//! read with one query per batch of concurrent requests. The same query
//! reads the primary's WAL flush position: the watermark a read replica
//! must have replayed before it may serve a read (`replicas`).
//!
//! Several hosts may share the database, so no memory of this host can
//! know of their writes: the value must come from the database. But one
//! query can serve every request that arrived before it started: a request
//! joins a query only if that query started after the request arrived
//! (otherwise it waits for the next one, which starts as soon as the one
//! in flight ends), so every request still reads a value at least as new
//! as every write acknowledged before it arrived. The value changes in the
//! write's own transaction, so whatever a read loads after taking it may
//! always be stored under it.
//!
//! The query runs in a task of its own, so a request that goes away does
//! not stop it for the others; no lock is held across an await.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;
use tokio::sync::watch;

use super::replicas::{Lsn, Replicas};
use crate::data::error::{Unreachable, unreachable_sqlx};
use crate::data::generation::{ContentGeneration, Generation};
use crate::data::{DataError, DataResult};

/// Which rounds (queries) have started and whether one is wanted next.
#[derive(Debug, Default)]
struct Rounds {
    /// The number of the latest round started.
    started: u64,
    /// Whether that round is still running.
    running: bool,
    /// Whether a request arrived while it runs, so needs the next round.
    wanted: bool,
}

/// What a request arriving does.
#[derive(Debug, PartialEq, Eq)]
enum Arrival {
    /// No round runs: it starts round `.0` (which starts after it arrived).
    Lead(u64),
    /// A round runs, which may have started before it arrived: it waits
    /// for round `.0`, the next one.
    Wait(u64),
}

impl Rounds {
    /// A request arrives.
    fn arrive(&mut self) -> Arrival {
        if self.running {
            self.wanted = true;
            Arrival::Wait(self.started + 1)
        } else {
            self.started += 1;
            self.running = true;
            Arrival::Lead(self.started)
        }
    }

    /// The running round ended; the round to run next, if a request waits
    /// for one.
    fn finish(&mut self) -> Option<u64> {
        if std::mem::take(&mut self.wanted) {
            self.started += 1;
            Some(self.started)
        } else {
            self.running = false;
            None
        }
    }
}

/// The generation, and the primary's WAL flush position when it was read:
/// a commit is acknowledged only once flushed (the app's sessions run with
/// `synchronous_commit = on`), so every write acknowledged before the query
/// ran ends at or before it. Not the insert position: that can point past
/// the next page's header, which a replica that replayed everything never
/// reaches while the primary is idle.
const GENERATION_AND_WATERMARK: &str = "SELECT generation, \
     (pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::bigint FROM content_generation WHERE id = 1";

/// What one round read: the generation and the watermark.
type Read = (i64, Lsn);

/// What the query tasks and the waiting requests share.
struct Inner {
    pool: PgPool,
    /// The longest one query may take: a round stuck on a black-holed
    /// server would hold every request after it.
    limit: Duration,
    /// Queries abandoned at the limit, whose connections are checked.
    abandoned: Arc<AtomicUsize>,
    /// Where each round's watermark is noted.
    replicas: Arc<Replicas>,
    rounds: Mutex<Rounds>,
    /// The latest round ended and what it read.
    ended: watch::Sender<(u64, Result<Read, Failed>)>,
}

/// Why a round read nothing, as every request waiting on it is told.
#[derive(Debug, Clone, Copy)]
enum Failed {
    /// The server could not be reached, or did not answer in time.
    Unreachable,
    /// The server answered with an error.
    Answered,
}

/// The content generation of one PostgreSQL database.
pub(crate) struct PgGeneration {
    inner: Arc<Inner>,
}

impl PgGeneration {
    /// Reads the generation through `pool`, each query within `limit`,
    /// counting those abandoned in `abandoned`.
    /// Each round's watermark is noted in `replicas`, which measure their
    /// lag against it.
    pub(crate) fn new(
        pool: PgPool,
        limit: Duration,
        abandoned: Arc<AtomicUsize>,
        replicas: Arc<Replicas>,
    ) -> Self {
        let inner = Inner {
            pool,
            limit,
            abandoned,
            replicas,
            rounds: Mutex::new(Rounds::default()),
            ended: watch::channel((0, Err(Failed::Answered))).0,
        };
        Self {
            inner: Arc::new(inner),
        }
    }
}

impl Inner {
    fn rounds(&self) -> std::sync::MutexGuard<'_, Rounds> {
        self.rounds.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `round`, then every round wanted while one ran.
    async fn run(self: Arc<Self>, mut round: u64) {
        loop {
            let query =
                sqlx::query_as::<_, (i64, i64)>(GENERATION_AND_WATERMARK).fetch_one(&self.pool);
            let read = match tokio::time::timeout(self.limit, query).await {
                Ok(Ok((value, lsn))) => {
                    self.replicas
                        .note_primary(std::time::Instant::now(), lsn as Lsn);
                    Ok((value, lsn as Lsn))
                }
                Ok(Err(error)) => {
                    tracing::debug!(%error, "the content generation could not be read");
                    Err(if unreachable_sqlx(&error) {
                        Failed::Unreachable
                    } else {
                        Failed::Answered
                    })
                }
                Err(_) => {
                    self.abandoned.fetch_add(1, Ordering::Relaxed);
                    Err(Failed::Unreachable)
                }
            };
            // The value it replaces was read by everyone waiting for it.
            let _ = self.ended.send_replace((round, read));
            match self.rounds().finish() {
                Some(next) => round = next,
                None => return,
            }
        }
    }
}

impl PgGeneration {
    /// The generation and the watermark from a round that started after
    /// this call.
    async fn read(&self) -> DataResult<Read> {
        let round = match self.inner.rounds().arrive() {
            Arrival::Lead(round) => {
                tokio::spawn(Arc::clone(&self.inner).run(round));
                round
            }
            Arrival::Wait(round) => round,
        };
        let mut ended = self.inner.ended.subscribe();
        let (_, read) = *ended
            .wait_for(|(ended, _)| *ended >= round)
            .await
            .map_err(|error| DataError::Unavailable(Box::new(error)))?;
        let unread = "the content generation could not be read";
        read.map_err(|failed| match failed {
            Failed::Unreachable => {
                DataError::Unavailable(Box::new(Unreachable::Reported(unread.into())))
            }
            Failed::Answered => DataError::Unavailable(unread.into()),
        })
    }

    /// The primary's WAL position at a moment after this call: every write
    /// acknowledged before the call is at or before it.
    pub(super) async fn watermark(&self) -> DataResult<Lsn> {
        Ok(self.read().await?.1)
    }
}

#[async_trait]
impl ContentGeneration for PgGeneration {
    async fn current(&self) -> DataResult<Generation> {
        let (value, _) = self.read().await?;
        Ok(Generation {
            epoch: 0,
            serial: value as u64,
        })
    }

    /// The value changes in the write's transaction: always.
    fn still(&self, _taken: Generation) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_first_request_leads_and_later_ones_wait_for_the_next_round() {
        let mut rounds = Rounds::default();
        assert_eq!(rounds.arrive(), Arrival::Lead(1));
        assert_eq!(rounds.arrive(), Arrival::Wait(2));
        assert_eq!(rounds.arrive(), Arrival::Wait(2));
        assert_eq!(rounds.finish(), Some(2));
        assert_eq!(rounds.arrive(), Arrival::Wait(3));
        assert_eq!(rounds.finish(), Some(3));
        assert_eq!(rounds.finish(), None);
        assert_eq!(rounds.arrive(), Arrival::Lead(4));
    }

    proptest! {
        /// In any sequence of arrivals and ends, every request waits for a
        /// round that starts after it arrived, and that round does run.
        #[test]
        fn every_request_gets_a_round_started_after_it(arrivals in proptest::collection::vec(any::<bool>(), 0..200)) {
            let mut rounds = Rounds::default();
            // Each request's round and the round that was running when it arrived.
            let mut waiting: Vec<u64> = Vec::new();
            let mut ran: Vec<u64> = Vec::new();
            let mut running: Option<u64> = None;
            for arrive in arrivals {
                if arrive || running.is_none() {
                    let target = match rounds.arrive() {
                        Arrival::Lead(round) => {
                            prop_assert!(running.is_none());
                            running = Some(round);
                            round
                        }
                        Arrival::Wait(round) => {
                            prop_assert!(Some(round) > running, "waits for a later round");
                            round
                        }
                    };
                    waiting.push(target);
                } else if let Some(round) = running {
                    ran.push(round);
                    running = rounds.finish();
                    if let Some(next) = running {
                        prop_assert_eq!(next, round + 1);
                    }
                }
            }
            while let Some(round) = running {
                ran.push(round);
                running = rounds.finish();
            }
            for target in waiting {
                prop_assert!(ran.contains(&target), "round {} ran", target);
            }
        }
    }
}
