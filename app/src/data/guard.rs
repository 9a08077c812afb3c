//! The guard every repository call of a backend passes: the circuit
//! breaker ([`super::circuit`]) and, where the backend needs one, a bound
//! on how long a call may take.
//!
//! [`Guarded`] wraps a backend's store (and its content generation) and
//! implements every repository trait by handing each call to
//! [`Breaker::call`]: refused at once while the circuit is open, else run
//! (under the bound), its outcome counted. `/health` pings through it too,
//! so it fails at once while the circuit is open, and its ping is the probe
//! that closes it once the database is back.
//!
//! A bound long enough for a slow statement (seconds) is far too long for
//! a database that went silent (a black hole: connections open, no answer,
//! nothing else fires). So a call that has waited [`CHECK_AFTER`] has the
//! backend's [`Liveness`] asked whether the database answers a ping at all:
//! if it does, the call runs on to its bound; if not within
//! [`CHECK_WITHIN`], the call fails and the circuit opens, so the first
//! requests of an outage fail in well under a second too.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::circuit::{Admission, Circuit, Outcome, State};
use super::error::{CircuitOpen, Unreachable, unreachable};
use super::*;

/// How long a call waits on the database before the guard asks whether
/// the database answers at all.
pub(crate) const CHECK_AFTER: Duration = Duration::from_millis(200);

/// How long the database has to answer that ping: a server that answers
/// takes about a millisecond on an open connection, a few to open one.
pub(crate) const CHECK_WITHIN: Duration = Duration::from_millis(400);

/// Whether the database answers at all, asked while a call waits long on
/// it: tells a slow statement from a database that went silent.
#[async_trait]
pub(crate) trait Liveness: Send + Sync {
    /// Whether the database answered a ping within `within`.
    async fn answers(&self, within: Duration) -> bool;
}

/// A backend's [`Liveness`], asked by one call at a time: calls that wait
/// meanwhile take its verdict instead of asking again.
struct Checks {
    liveness: Box<dyn Liveness>,
    /// When the last check ended, and whether the database answered (on
    /// tokio's clock, which the tests pause). Held while a check runs, so
    /// the calls that wait meanwhile queue here: only calls already slow
    /// get here, and a check takes at most [`CHECK_WITHIN`].
    last: tokio::sync::Mutex<Option<(tokio::time::Instant, bool)>>,
}

impl Checks {
    /// Whether the database answers: a verdict less than [`CHECK_AFTER`]
    /// old, or a new check's.
    async fn answers(&self) -> bool {
        let mut last = self.last.lock().await;
        if let Some((at, answered)) = *last
            && at.elapsed() < CHECK_AFTER
        {
            return answered;
        }
        let answered = self.liveness.answers(CHECK_WITHIN).await;
        *last = Some((tokio::time::Instant::now(), answered));
        answered
    }
}

/// The circuit of one database, and the bound of its calls.
pub(crate) struct Breaker {
    circuit: Mutex<Circuit>,
    /// The longest a call may take, or `None` when the backend bounds its
    /// own waits (SQLite's `busy_timeout`).
    limit: Option<Duration>,
    /// Where a long call asks whether the database answers at all, or
    /// `None` for a backend that cannot go silent (SQLite, a local file).
    checks: Option<Checks>,
    /// Calls abandoned at their bound whose connections may be stuck: the
    /// backend checks, with a bound, the next connections handed back.
    abandoned: Arc<AtomicUsize>,
    /// `sqlite` or `postgres`, the metrics' label.
    backend: &'static str,
}

impl Breaker {
    /// A closed circuit for `backend`, whose calls take at most `limit`
    /// (also how long a probe may stay out), and are cut short when
    /// `liveness` says the database went silent, counting abandoned calls
    /// in `abandoned`.
    pub(crate) fn new(
        backend: &'static str,
        limit: Option<Duration>,
        liveness: Option<Box<dyn Liveness>>,
        abandoned: Arc<AtomicUsize>,
    ) -> Self {
        let probe_limit = limit.unwrap_or(Duration::from_secs(10));
        let breaker = Self {
            circuit: Mutex::new(Circuit::new(probe_limit)),
            limit,
            checks: liveness.map(|liveness| Checks {
                liveness,
                last: tokio::sync::Mutex::new(None),
            }),
            abandoned,
            backend,
        };
        metrics::gauge!("db_circuit_state", "backend" => backend).set(0.0);
        breaker
    }

    /// Runs `work` unless the circuit refuses it, within the bound, and
    /// counts how it ended.
    pub(crate) async fn call<T>(&self, work: impl Future<Output = DataResult<T>>) -> DataResult<T> {
        if let Admission::Refuse { retry_after } = self.step(|c| c.admit(Instant::now())) {
            metrics::counter!("db_circuit_refused_total", "backend" => self.backend).increment(1);
            return Err(DataError::Unavailable(Box::new(CircuitOpen {
                retry_after,
            })));
        }
        let result = if self.limit.is_none() && self.checks.is_none() {
            work.await
        } else {
            self.watched(work).await
        };
        let outcome = match &result {
            Err(error) if unreachable(error) => Outcome::Unreachable,
            _ => Outcome::Answered,
        };
        self.step(|c| c.record(outcome, Instant::now()));
        result
    }

    /// Runs `work` until it ends, its bound passes or the database goes
    /// silent, whichever comes first; a call cut short is counted as
    /// abandoned, since its connection may come back mid-statement.
    async fn watched<T>(&self, work: impl Future<Output = DataResult<T>>) -> DataResult<T> {
        let bound = async {
            match self.limit {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        let silence = async {
            match &self.checks {
                Some(checks) => self.silence(checks).await,
                None => std::future::pending().await,
            }
        };
        let cut_short = tokio::select! {
            biased;
            result = work => return result,
            () = bound => Unreachable::TimedOut(self.limit.unwrap_or_default()),
            () = silence => Unreachable::Silent,
        };
        self.abandoned.fetch_add(1, Ordering::Relaxed);
        Err(DataError::Unavailable(Box::new(cut_short)))
    }

    /// Ends once the database leaves a ping unanswered while the call
    /// waits, asking after [`CHECK_AFTER`] and every [`CHECK_AFTER`] after
    /// that; opens the circuit then, so the calls behind it fail at once.
    async fn silence(&self, checks: &Checks) {
        loop {
            tokio::time::sleep(CHECK_AFTER).await;
            if !checks.answers().await {
                self.step(|c| c.trip(Instant::now()));
                return;
            }
        }
    }

    /// Applies `change` to the circuit, and publishes the new state when
    /// it is another kind (the lock is not held while publishing).
    fn step<R>(&self, change: impl FnOnce(&mut Circuit) -> R) -> R {
        let mut circuit = self.circuit.lock().unwrap_or_else(PoisonError::into_inner);
        let before = circuit.state();
        let answer = change(&mut circuit);
        let after = circuit.state();
        drop(circuit);
        if std::mem::discriminant(&before) != std::mem::discriminant(&after) {
            self.publish(before, after);
        }
        answer
    }

    /// Shows a change of state in `/metrics` (`db_circuit_state`: 0
    /// closed, 1 half-open, 2 open), and logs an outage's start and end
    /// once each, not every failed probe.
    fn publish(&self, before: State, state: State) {
        let value = match state {
            State::Closed { .. } => {
                tracing::info!(
                    backend = self.backend,
                    "the database answers again: its circuit is closed"
                );
                0.0
            }
            State::HalfOpen { .. } => 1.0,
            State::Open { .. } if matches!(before, State::Closed { .. }) => {
                tracing::warn!(
                    backend = self.backend,
                    "the database is unreachable: its circuit is open, requests that need it fail at once"
                );
                metrics::counter!("db_circuit_opened_total", "backend" => self.backend)
                    .increment(1);
                2.0
            }
            State::Open { .. } => 2.0,
        };
        metrics::gauge!("db_circuit_state", "backend" => self.backend).set(value);
    }
}

/// A store or content generation whose every call passes the breaker.
pub(crate) struct Guarded<S: ?Sized> {
    inner: Arc<S>,
    breaker: Arc<Breaker>,
}

impl<S: ?Sized> Guarded<S> {
    /// `inner` behind `breaker`.
    pub(crate) fn new(inner: Arc<S>, breaker: Arc<Breaker>) -> Self {
        Self { inner, breaker }
    }
}

/// Implements a repository trait for [`Guarded`]: each listed method
/// passes the call through the breaker; the items after the list are
/// written out as they are.
macro_rules! guarded {
    ($trait:ident { $($name:ident($($arg:ident: $ty:ty),*) -> $out:ty;)* } $($rest:item)*) => {
        #[async_trait]
        impl<S: $trait + ?Sized> $trait for Guarded<S> {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> DataResult<$out> {
                    self.breaker.call(self.inner.$name($($arg),*)).await
                }
            )*
            $($rest)*
        }
    };
}

guarded!(UserRepository {
    create(new: NewUser) -> User;
    by_id(id: Uuid) -> Option<User>;
    by_email(email: &str) -> Option<User>;
    set_role(email: &str, role: Role) -> User;
    profile(id: Uuid) -> Option<Profile>;
});

guarded!(SessionRepository {
    create(session: NewSession) -> ();
    user_for(token_hash: &[u8], now: DateTime<Utc>) -> Option<User>;
    revoke(token_hash: &[u8]) -> bool;
});

guarded!(LoginThrottleRepository {
    reserve(key: &str, now: DateTime<Utc>, limits: ThrottleLimits) -> Option<DateTime<Utc>>;
    record_failure(key: &str, now: DateTime<Utc>, limits: ThrottleLimits) -> Option<DateTime<Utc>>;
    succeed(key: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>>;
});

guarded!(PostRepository {
    create(new: NewPost) -> Post;
    by_id(id: Uuid) -> Option<Post>;
    by_slug(slug: &str) -> Option<Post>;
    list(query: &PostQuery) -> Page<PostSummary>;
    update(id: Uuid, change: PostChange) -> Post;
    delete(id: Uuid) -> ();
    tag_counts() -> Vec<TagCount>;
});

guarded!(CommentRepository {
    create(new: NewComment) -> Comment;
    by_id(id: Uuid) -> Option<Comment>;
    list(post_id: Uuid, page: PageRequest) -> Page<Comment>;
    delete(id: Uuid) -> ();
});

guarded!(FollowRepository {
    follow(follower: Uuid, author: Uuid) -> ();
    unfollow(follower: Uuid, author: Uuid) -> ();
});

guarded!(NotificationRepository {
    list(user_id: Uuid, page: PageRequest) -> Page<Notification>;
    mark_all_read(user_id: Uuid) -> ();
});

// Migrating and closing are the process's own steps, before and after
// serving: they pass unguarded. The ping is guarded, so `/health` sees the
// circuit.
guarded!(Database {
    ping() -> ();
}
    async fn migrate(&self) -> DataResult<()> {
        self.inner.migrate().await
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    fn pool_usage(&self) -> PoolUsage {
        self.inner.pool_usage()
    }

    fn replicas(&self) -> Vec<ReplicaHealth> {
        self.inner.replicas()
    }

    async fn close(&self) {
        self.inner.close().await;
    }
);

guarded!(ContentGeneration {
    current() -> Generation;
}
    fn still(&self, taken: Generation) -> bool {
        self.inner.still(taken)
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    /// A [`Liveness`] that always says `answers`, counting the checks.
    struct Stub {
        answers: bool,
        asked: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl Liveness for Stub {
        async fn answers(&self, within: Duration) -> bool {
            self.asked.fetch_add(1, Ordering::Relaxed);
            if !self.answers {
                tokio::time::sleep(within).await;
            }
            self.answers
        }
    }

    /// A breaker bounding calls at 7 s (the default timeouts'), with a
    /// stub saying `answers`; its checks are counted in the second value,
    /// abandoned calls in the third.
    fn breaker(answers: bool) -> (Breaker, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let asked = Arc::new(AtomicUsize::new(0));
        let abandoned = Arc::new(AtomicUsize::new(0));
        let stub = Stub {
            answers,
            asked: Arc::clone(&asked),
        };
        let limit = Some(Duration::from_secs(7));
        let breaker = Breaker::new("test", limit, Some(Box::new(stub)), Arc::clone(&abandoned));
        (breaker, asked, abandoned)
    }

    fn source(result: &DataResult<()>) -> &(dyn std::error::Error + Send + Sync + 'static) {
        match result {
            Err(DataError::Unavailable(source)) => source.as_ref(),
            other => panic!("not unavailable: {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn calls_waiting_on_a_silent_database_fail_after_one_check_and_open_the_circuit() {
        let (breaker, asked, abandoned) = breaker(false);
        let breaker = Arc::new(breaker);
        let started = tokio::time::Instant::now();
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let breaker = Arc::clone(&breaker);
            calls
                .spawn(async move { breaker.call(std::future::pending::<DataResult<()>>()).await });
        }
        for result in calls.join_all().await {
            let source = source(&result);
            assert!(
                matches!(source.downcast_ref(), Some(Unreachable::Silent)),
                "{result:?}"
            );
        }
        assert_eq!(started.elapsed(), CHECK_AFTER + CHECK_WITHIN);
        assert_eq!(asked.load(Ordering::Relaxed), 1, "one check for them all");
        assert_eq!(abandoned.load(Ordering::Relaxed), 10);
        let refused = breaker.call(async { Ok(()) }).await;
        assert!(source(&refused).is::<CircuitOpen>(), "{refused:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_call_on_a_database_that_answers_runs_to_its_end() {
        let (breaker, asked, abandoned) = breaker(true);
        let slow = async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Ok(())
        };
        breaker.call(slow).await.unwrap();
        let checks = asked.load(Ordering::Relaxed);
        assert!((10..=15).contains(&checks), "{checks} checks");
        assert_eq!(abandoned.load(Ordering::Relaxed), 0);
        breaker.call(async { Ok(()) }).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_past_its_bound_fails_even_when_the_database_answers_pings() {
        let (breaker, _, abandoned) = breaker(true);
        let result = breaker.call(std::future::pending::<DataResult<()>>()).await;
        let source = source(&result);
        assert!(
            matches!(source.downcast_ref(), Some(Unreachable::TimedOut(_))),
            "{result:?}"
        );
        assert_eq!(abandoned.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_ends_first_is_never_checked() {
        let (breaker, asked, _) = breaker(false);
        let quick = async {
            tokio::time::sleep(CHECK_AFTER / 2).await;
            Ok(())
        };
        breaker.call(quick).await.unwrap();
        assert_eq!(asked.load(Ordering::Relaxed), 0);
    }
}
