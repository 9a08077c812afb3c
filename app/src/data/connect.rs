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

/// How a pool of connections is sized and aged: the knobs of the pools
/// the Express scalability guide configures (max, min, idle timeout; the
/// acquire timeout is [`Timeouts::connect`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSizes {
    /// The most connections the pool opens. A worker is one of several
    /// sharing the server's connection limit, so this stays small.
    pub max: u32,
    /// Connections kept open even when idle, opened in the background, so
    /// that the first requests after a quiet spell do not pay a connect.
    pub min: u32,
    /// How long a connection above `min` may stay idle before it is closed.
    pub idle_timeout: Duration,
}

impl Default for PoolSizes {
    fn default() -> Self {
        Self {
            max: 8,
            min: 0,
            idle_timeout: Duration::from_secs(10 * 60),
        }
    }
}

/// Everything a deployment tells the data layer about reaching its
/// database, beside the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbOptions {
    /// How long calls may wait.
    pub timeouts: Timeouts,
    /// The pool of the database `DATABASE_URL` names (on SQLite, its
    /// readers: the file has one writer connection besides).
    pub pool: PoolSizes,
    /// A statement that runs this long or longer is logged (a warning with
    /// its SQL, its time and, inside a request, the request's id); `None`
    /// logs none.
    pub slow_statement: Option<Duration>,
    /// PostgreSQL read replicas' URLs: reads go to one that has replayed
    /// every write they must see, else to the primary.
    pub replicas: Vec<String>,
    /// The pool of each replica.
    pub replica_pool: PoolSizes,
    /// How long a read waits for a replica's connection before it goes to
    /// the primary instead: short, so that a replica that just went down
    /// (its pool retrying to connect) costs its reads little.
    pub replica_acquire_timeout: Duration,
    /// A replica further behind the primary than this is set aside.
    pub replica_max_lag: Duration,
    /// The CPUs SQLite's writer thread may run on; empty leaves it with the
    /// rest of the process. Under a supervisor that pins each worker to a
    /// CPU, the CPUs it lets the app use (corral's `CORRAL_CPUS`), so the
    /// writer does not take turns with the worker's requests on one CPU.
    pub writer_cpus: Vec<usize>,
}

/// The threshold of the slow-statement log when none is set.
pub const DEFAULT_SLOW_STATEMENT: Duration = Duration::from_secs(1);

/// How long a read waits for a replica's connection by default.
pub const DEFAULT_REPLICA_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(250);

/// How far behind the primary a replica may be and still serve reads (that
/// it has replayed far enough): further, it is set aside and `/health`
/// warns.
pub const DEFAULT_REPLICA_MAX_LAG: Duration = Duration::from_secs(10);

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            timeouts: Timeouts::default(),
            pool: PoolSizes::default(),
            slow_statement: Some(DEFAULT_SLOW_STATEMENT),
            replicas: Vec::new(),
            replica_pool: PoolSizes::default(),
            replica_acquire_timeout: DEFAULT_REPLICA_ACQUIRE_TIMEOUT,
            replica_max_lag: DEFAULT_REPLICA_MAX_LAG,
            writer_cpus: Vec::new(),
        }
    }
}

/// [`connect_with`] the default [`Timeouts`].
pub async fn connect(url: &str) -> DataResult<Repositories> {
    connect_with(url, Timeouts::default()).await
}

/// [`open`] with `timeouts` and every other option at its default.
pub async fn connect_with(url: &str, timeouts: Timeouts) -> DataResult<Repositories> {
    let options = DbOptions {
        timeouts,
        ..DbOptions::default()
    };
    open(url, &options).await
}

/// Opens a pool on the database named by `url` and returns its
/// repositories: `sqlite:` (the file and its folder are created when
/// missing, e.g. `sqlite://data/app.db`), or `postgres:`/`postgresql:`.
/// Every call waits at most as `options.timeouts` say, and passes a
/// circuit breaker. Does not migrate: call [`Database::migrate`] for that.
pub async fn open(url: &str, options: &DbOptions) -> DataResult<Repositories> {
    let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" if !options.replicas.is_empty() => Err(DataError::ReplicasNeedPostgres),
        "sqlite" => sqlite::connect(url, options).await,
        "postgres" | "postgresql" => postgres::connect(url, options).await,
        _ => Err(DataError::UnsupportedScheme {
            scheme: scheme.to_owned(),
        }),
    }
}

/// Makes `options` log every statement that takes `slow` or longer, as a
/// warning (sqlx's own log, target `sqlx::query`, with the SQL and the
/// time); statements are otherwise not logged.
pub(crate) fn log_slow<O: sqlx::ConnectOptions>(options: O, slow: Option<Duration>) -> O {
    let options = options.log_statements(log::LevelFilter::Off);
    match slow {
        Some(threshold) => options.log_slow_statements(log::LevelFilter::Warn, threshold),
        None => options.log_slow_statements(log::LevelFilter::Off, Duration::ZERO),
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
