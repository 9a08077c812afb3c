//! Opening the database named by a URL, on the backend its scheme names.

use std::sync::Arc;
use std::time::Duration;

use super::guard::{Breaker, Guarded};
use super::{
    CommentRepository, ContentGeneration, DataError, DataResult, Database, FollowRepository,
    LoginThrottleRepository, NotificationRepository, PostRepository, Repositories,
    SessionRepository, UserRepository, postgres, sqlite,
};

/// How long database calls may wait, so that no request hangs on a
/// database that is down, black-holed or locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// How long a call waits for a pooled connection, opening one included,
    /// on either backend, before it fails as unavailable (503). sqlx's
    /// default is 30 s, which would hold every client of a saturated pool
    /// (or of an unreachable PostgreSQL server, which the pool keeps trying
    /// to reach for this long) for that long.
    pub connect: Duration,
    /// How long one statement may run or wait. PostgreSQL: its
    /// `statement_timeout`, and a call that has not ended after `connect +
    /// statement` (a server that stopped answering on an open connection)
    /// is abandoned and its connection closed. SQLite: its `busy_timeout`,
    /// how long a statement waits on a lock another process holds.
    pub statement: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(2),
            statement: Duration::from_secs(5),
        }
    }
}

impl Timeouts {
    /// The longest a PostgreSQL call may take: a connection, then a
    /// statement.
    pub(crate) fn call(&self) -> Duration {
        self.connect + self.statement
    }
}

/// [`connect_with`] the default [`Timeouts`].
pub async fn connect(url: &str) -> DataResult<Repositories> {
    connect_with(url, Timeouts::default()).await
}

/// Opens a pool on the database named by `url` and returns its
/// repositories: `sqlite:` (the file and its folder are created when
/// missing, e.g. `sqlite://data/app.db`), or `postgres:`/`postgresql:`.
/// Every call waits at most as `timeouts` say, and passes a circuit
/// breaker. Does not migrate: call [`Database::migrate`] for that.
pub async fn connect_with(url: &str, timeouts: Timeouts) -> DataResult<Repositories> {
    let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => sqlite::connect(url, timeouts).await,
        "postgres" | "postgresql" => postgres::connect(url, timeouts).await,
        _ => Err(DataError::UnsupportedScheme {
            scheme: scheme.to_owned(),
        }),
    }
}

/// Every repository trait, so one store type can serve them all.
pub(crate) trait Store:
    Database
    + UserRepository
    + SessionRepository
    + LoginThrottleRepository
    + PostRepository
    + CommentRepository
    + FollowRepository
    + NotificationRepository
    + 'static
{
}

impl<T> Store for T where
    T: Database
        + UserRepository
        + SessionRepository
        + LoginThrottleRepository
        + PostRepository
        + CommentRepository
        + FollowRepository
        + NotificationRepository
        + 'static
{
}

/// Hands one backend's store out as every repository, each call through
/// `breaker`, with its content generation as the backend gives it: guarded
/// by the backend itself where reading it needs the database.
pub(crate) fn repositories(
    store: Arc<impl Store>,
    generation: Arc<dyn ContentGeneration>,
    breaker: Arc<Breaker>,
) -> Repositories {
    let store = Arc::new(Guarded::new(store, breaker));
    Repositories {
        database: store.clone(),
        users: store.clone(),
        sessions: store.clone(),
        login_throttle: store.clone(),
        posts: store.clone(),
        comments: store.clone(),
        follows: store.clone(),
        notifications: store,
        generation,
    }
}
