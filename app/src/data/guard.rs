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

/// The circuit of one database, and the bound of its calls.
pub(crate) struct Breaker {
    circuit: Mutex<Circuit>,
    /// The longest a call may take, or `None` when the backend bounds its
    /// own waits (SQLite's `busy_timeout`).
    limit: Option<Duration>,
    /// Calls abandoned at their bound whose connections may be stuck: the
    /// backend checks, with a bound, the next connections handed back.
    abandoned: Arc<AtomicUsize>,
    /// `sqlite` or `postgres`, the metrics' label.
    backend: &'static str,
}

impl Breaker {
    /// A closed circuit for `backend`, whose calls take at most `limit`
    /// (also how long a probe may stay out), counting abandoned calls in
    /// `abandoned`.
    pub(crate) fn new(
        backend: &'static str,
        limit: Option<Duration>,
        abandoned: Arc<AtomicUsize>,
    ) -> Self {
        let probe_limit = limit.unwrap_or(Duration::from_secs(10));
        let breaker = Self {
            circuit: Mutex::new(Circuit::new(probe_limit)),
            limit,
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
        let result = match self.limit {
            Some(limit) => match tokio::time::timeout(limit, work).await {
                Ok(result) => result,
                Err(_) => {
                    self.abandoned.fetch_add(1, Ordering::Relaxed);
                    Err(DataError::Unavailable(Box::new(Unreachable::TimedOut(
                        limit,
                    ))))
                }
            },
            None => work.await,
        };
        let outcome = match &result {
            Err(error) if unreachable(error) => Outcome::Unreachable,
            _ => Outcome::Answered,
        };
        self.step(|c| c.record(outcome, Instant::now()));
        result
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
