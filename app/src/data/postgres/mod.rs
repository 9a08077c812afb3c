//! The PostgreSQL backend: one database shared by workers on many machines.
//!
//! Ids are native `uuid`, times `timestamptz` (microseconds). Writes that
//! read before they write lock the row they read (`SELECT ... FOR UPDATE`)
//! or use `INSERT ... ON CONFLICT`, so concurrent workers serialise on the
//! row instead of overwriting each other.
//!
//! Reads may go to a read replica that has replayed every write they must
//! see ([`PgStore::read`], module `replicas`); writes always go to the
//! primary.
//!
//! A transaction runs in a task of its own ([`PgStore::write`]): a request
//! that is dropped because its client went away stops waiting for the
//! answer, not the transaction, so no connection is ever handed back with a
//! transaction half done. Should one come back inside a transaction all the
//! same, the pool closes it instead of reusing it.

mod auth;
mod codec;
mod comments;
mod generation;
mod liveness;
mod posts;
mod reads;
mod replicas;
mod social;
mod users;

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres, Transaction, TransactionManager};

use super::connect::{DbOptions, PoolSizes, log_slow, repositories};
use super::error::Unreachable;
use super::guard::{Breaker, Guarded};
use super::{DataError, DataResult, Database, PoolUsage, ReplicaHealth, Repositories};
use crate::infrastructure::telemetry::request::carried;
use replicas::Replicas;

/// One write's statements, run on a pooled connection inside a transaction
/// that [`PgStore::write`] opens and commits: a unit of work the request
/// hands over instead of holding a transaction itself, so a client that goes
/// away cannot leave the transaction half done (it runs to the
/// end whether or not anyone still waits for the answer).
type Work<'c, T> = Pin<Box<dyn Future<Output = DataResult<T>> + Send + 'c>>;

/// One read's statements on the pool [`PgStore::read`] chose: called again
/// on the primary when a replica fails it.
type Reading<'p, T> = Pin<Box<dyn Future<Output = DataResult<T>> + Send + 'p>>;

/// Every repository over one PostgreSQL primary and its read replicas.
pub(crate) struct PgStore {
    /// The primary's pool: every write, and the reads no replica may serve.
    pool: PgPool,
    /// The read replicas; none by default.
    replicas: Arc<Replicas>,
    /// Where a read learns how far a replica must have replayed.
    generation: Arc<generation::PgGeneration>,
    /// The longest a write's transaction may take.
    limit: Duration,
    /// Calls abandoned at their bound, shared with the breaker.
    abandoned: Arc<AtomicUsize>,
}

/// Opens a pool on the database named by `url`, sized as `options.pool`
/// says. Each connection runs its statements under `statement_timeout`
/// (the server cancels a slower one), and every call, connecting included,
/// is bounded by the breaker: a server that stops answering on an open
/// connection (a black hole, where no timeout of the server's own can
/// fire) cannot hold a request.
pub(crate) async fn connect(url: &str, options: &DbOptions) -> DataResult<Repositories> {
    let timeouts = options.timeouts;
    let connect = session(url, options)?;
    let abandoned = Arc::new(AtomicUsize::new(0));
    let pool = sized(options.pool, timeouts.connect)
        .after_release({
            let abandoned = Arc::clone(&abandoned);
            move |conn, _| {
                let abandoned = Arc::clone(&abandoned);
                Box::pin(async move { reusable(conn, &abandoned, timeouts.connect).await })
            }
        })
        .connect_with(connect.clone())
        .await?;
    let replicas = Replicas::start(replica_pools(options)?, options.replica_max_lag);
    let limit = timeouts.call();
    let liveness = Box::new(liveness::PgLiveness::new(connect));
    let breaker = Arc::new(Breaker::new(
        "postgres",
        Some(limit),
        Some(liveness),
        Arc::clone(&abandoned),
    ));
    let source = Arc::new(generation::PgGeneration::new(
        pool.clone(),
        limit,
        Arc::clone(&abandoned),
        Arc::clone(&replicas),
    ));
    // The generation is a query: while the database is unreachable it
    // fails at once too.
    let generation = Arc::new(Guarded::new(Arc::clone(&source), Arc::clone(&breaker)));
    let store = PgStore {
        pool,
        replicas,
        generation: source,
        limit,
        abandoned,
    };
    Ok(repositories(Arc::new(store), generation, breaker))
}

/// A pool per replica of `options.replicas`, named by its masked URL.
/// Opened lazily: a replica that is down when the worker starts must not
/// keep it from serving (the primary serves until the replica answers).
fn replica_pools(options: &DbOptions) -> DataResult<Vec<(String, PgPool)>> {
    options
        .replicas
        .iter()
        .map(|url| {
            let pool = sized(options.replica_pool, options.replica_acquire_timeout)
                .connect_lazy_with(session(url, options)?);
            Ok((crate::infrastructure::redact::redact(url), pool))
        })
        .collect()
}

/// How every session on the server `url` names runs: each statement under
/// `statement_timeout` (the server cancels a slower one), slow ones logged,
/// and `synchronous_commit = on` whatever the server's default (a commit
/// is acknowledged only once flushed, which the replicas' watermark relies
/// on, module `generation`).
fn session(url: &str, options: &DbOptions) -> DataResult<PgConnectOptions> {
    let statement_ms = options.timeouts.statement.as_millis().max(1);
    Ok(
        log_slow(PgConnectOptions::from_str(url)?, options.slow_statement).options([
            ("statement_timeout", format!("{statement_ms}ms")),
            ("synchronous_commit", "on".to_owned()),
        ]),
    )
}

/// A pool sized as `sizes` says, waiting at most `acquire` for a connection.
fn sized(sizes: PoolSizes, acquire: Duration) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(sizes.max)
        .min_connections(sizes.min)
        .idle_timeout(sizes.idle_timeout)
        .acquire_timeout(acquire)
}

/// Whether a connection handed back may be reused: not inside a
/// transaction, and, while calls were abandoned at their bound (whose
/// connections come back mid-statement), answering a ping within `bound`.
/// sqlx pings every connection handed back without a bound, which on a
/// black-holed server would hold its pool slot until the kernel gives up on
/// the socket (many minutes); an error here closes the connection at once.
async fn reusable(
    conn: &mut PgConnection,
    abandoned: &AtomicUsize,
    bound: Duration,
) -> Result<bool, sqlx::Error> {
    if <Postgres as sqlx::Database>::TransactionManager::get_transaction_depth(conn) != 0 {
        return Ok(false);
    }
    let suspect = abandoned
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok();
    if !suspect {
        return Ok(true);
    }
    match tokio::time::timeout(bound, conn.ping()).await {
        Ok(answered) => answered.map(|()| true),
        Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "a connection handed back mid-statement did not answer a ping",
        ))),
    }
}

impl PgStore {
    /// Runs `read` on a replica that has replayed every write acknowledged
    /// before this call, or else on the primary. A replica that fails the
    /// read as unavailable is set aside and the read runs on the primary:
    /// a replica going down costs no request.
    async fn read<T, F>(&self, read: F) -> DataResult<T>
    where
        F: for<'p> Fn(&'p PgPool) -> Reading<'p, T>,
    {
        if self.replicas.is_empty() {
            return read(&self.pool).await;
        }
        let needed = self.generation.watermark().await?;
        let (served_by, done) = match self.replicas.pick(needed) {
            None => ("primary", read(&self.pool).await),
            Some(replica) => match read(&replica.pool).await {
                Err(DataError::Unavailable(error)) => {
                    tracing::warn!(replica = %replica.name, error = %crate::data::error_chain(&*error),
                        "a read failed on a replica: set aside, read again on the primary");
                    self.replicas.set_aside(&replica);
                    ("primary", read(&self.pool).await)
                }
                done => ("replica", done),
            },
        };
        metrics::counter!("db_reads_total", "served_by" => served_by).increment(1);
        done
    }

    /// Runs `work` in a transaction, in a task of its own that the caller
    /// awaits: dropping the caller does not drop the transaction midway.
    async fn write<T, F>(&self, work: F) -> DataResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> Work<'c, T> + Send + 'static,
    {
        let (pool, limit) = (self.pool.clone(), self.limit);
        let abandoned = Arc::clone(&self.abandoned);
        let bounded = async move {
            match tokio::time::timeout(limit, transact(&pool, work)).await {
                Ok(result) => result,
                // Dropping the transaction rolls it back on a connection
                // that `reusable` then checks.
                Err(_) => {
                    abandoned.fetch_add(1, Ordering::Relaxed);
                    Err(DataError::Unavailable(Box::new(Unreachable::TimedOut(
                        limit,
                    ))))
                }
            }
        };
        // Its slow statements are logged with the request's id.
        match tokio::spawn(carried(bounded)).await {
            Ok(result) => result,
            // The panic is the caller's, as if the work had run in place.
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(join) => Err(DataError::Unavailable(Box::new(join))),
        }
    }
}

/// Begins, runs `work`, and commits; rolls back (before the connection
/// goes back to the pool) when `work` fails.
async fn transact<T, F>(pool: &PgPool, work: F) -> DataResult<T>
where
    F: for<'c> FnOnce(&'c mut PgConnection) -> Work<'c, T>,
{
    let mut tx = pool.begin().await?;
    match work(&mut tx).await {
        Ok(value) => {
            commit(tx).await?;
            Ok(value)
        }
        Err(error) => {
            // A failed rollback leaves the connection inside the
            // transaction; the pool closes it on release.
            let _ = tx.rollback().await;
            Err(error)
        }
    }
}

/// Commits a write: the one place a PostgreSQL write transaction commits.
async fn commit(tx: Transaction<'_, Postgres>) -> DataResult<()> {
    Ok(tx.commit().await?)
}

/// Sets a new, random content generation; called in every transaction
/// that writes posts, tags or comments, so caches keyed by it see the write.
/// Called last, just before the commit: every such write takes this one
/// row's lock, so writes from every host queue on it, and it is held from
/// here to the commit (measured with three hosts under a 90/10 mix: 16-26
/// sessions waiting on this update at once when it came before the post's
/// read-back).
/// Random rather than counted: a Redis shared by several databases (or by
/// copies of one) then never holds one database's reads under a key another
/// database reaches, as two counters from the same start would.
async fn bump_generation(conn: &mut PgConnection) -> DataResult<()> {
    sqlx::query("UPDATE content_generation SET generation = $1 WHERE id = 1")
        .bind(rand::random::<i64>())
        .execute(conn)
        .await?;
    Ok(())
}

/// The PostgreSQL migrations, embedded in the binary.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

#[async_trait]
impl Database for PgStore {
    /// sqlx holds a session advisory lock (keyed by the database name) while
    /// it migrates, so workers starting together apply each migration once:
    /// the others wait, then find it applied.
    ///
    /// Waiting for that lock, or a long migration, must not be cut by the
    /// statement timeout: migrations run on a connection taken out of the
    /// pool, with no timeout, and closed afterwards.
    async fn migrate(&self) -> DataResult<()> {
        let mut conn = self.pool.acquire().await?.detach();
        sqlx::query("SET statement_timeout = 0")
            .execute(&mut conn)
            .await?;
        // `run_direct` is `run` without the `Acquire` bound that cannot be
        // proven for a borrowed connection inside a `Send` future.
        let migrated = MIGRATOR.run_direct(&mut conn).await;
        let _ = conn.close().await;
        Ok(migrated?)
    }

    async fn ping(&self) -> DataResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn pool_usage(&self) -> PoolUsage {
        PoolUsage {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
        }
    }

    fn replicas(&self) -> Vec<ReplicaHealth> {
        self.replicas.health()
    }

    async fn close(&self) {
        self.replicas.close().await;
        self.pool.close().await;
    }
}
