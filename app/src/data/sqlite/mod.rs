//! The SQLite backend: one file shared by every worker process.
//!
//! WAL lets readers run beside the one writer; `busy_timeout` makes a writer
//! wait for the lock instead of failing. A multi-statement write runs in a
//! transaction opened with `BEGIN IMMEDIATE` ([`SqliteStore::write`]), which
//! takes the write lock (waiting on `busy_timeout`) before reading anything:
//! a deferred transaction that read first and then tried to write would get
//! `SQLITE_BUSY` at once, without waiting, whenever another process wrote in
//! between. A single write statement in autocommit mode takes the lock up
//! front by itself, so it needs no explicit transaction.
//!
//! Ids are stored as UUID text and times as fixed-width RFC 3339 text
//! ([`codec`]), so text order is id and time order.

mod auth;
mod codec;
mod comments;
mod generation;
mod posts;
mod reads;
mod social;
mod users;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, Sqlite, Transaction};

use self::generation::SharedGeneration;
use super::connect::{ACQUIRE_TIMEOUT, repositories};
use super::{DataError, DataResult, Database, PoolUsage, Repositories};

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long to wait before trying again to open a file another process is
/// switching to WAL.
const WAL_RETRY: Duration = Duration::from_millis(10);

/// SQLite's primary result code for "another connection holds the lock".
const SQLITE_BUSY: i32 = 5;

/// Connections per process: SQLite has one writer anyway, and readers are
/// cheap, so a few are enough.
const POOL_SIZE: u32 = 8;

/// Every repository over one SQLite pool.
pub(crate) struct SqliteStore {
    /// The pool every method uses.
    pool: SqlitePool,
    /// The content generation every write to posts, tags or comments
    /// counts after its commit ([`SharedGeneration::commit`]).
    generation: Arc<SharedGeneration>,
}

/// Opens (creating when missing) the SQLite file named by `url`.
pub(crate) async fn connect(url: &str) -> DataResult<Repositories> {
    let pool = open(url).await?;
    let generation = Arc::new(generation::for_pool(url, &pool).await?);
    let store = SqliteStore {
        pool,
        generation: Arc::clone(&generation),
    };
    Ok(repositories(Arc::new(store), generation))
}

/// The pool over the file named by `url`: a request that finds every
/// connection busy waits at most [`ACQUIRE_TIMEOUT`], then fails (503).
async fn open(url: &str) -> DataResult<SqlitePool> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    if !url.contains(":memory:") && !url.contains("mode=memory") {
        create_folder(options.get_filename())?;
        switch_to_wal(&options).await?;
    }
    Ok(SqlitePoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await?)
}

/// Creates the folder a database file goes in, so a fresh checkout can run
/// with the default `sqlite://data/app.db`.
fn create_folder(file: &Path) -> DataResult<()> {
    match file.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => {
            std::fs::create_dir_all(folder).map_err(|error| DataError::Unavailable(Box::new(error)))
        }
        _ => Ok(()),
    }
}

/// Opens one connection, which switches a new file to WAL (a lasting
/// setting of the file), before the pool opens more.
///
/// The switch needs the file to itself, and SQLite answers `SQLITE_BUSY` at
/// once, without waiting on `busy_timeout`, when another process is opening
/// the same new file at that moment; so this retries, for as long as a
/// statement would wait. Once the file is in WAL, opening never needs that.
async fn switch_to_wal(options: &SqliteConnectOptions) -> DataResult<()> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match SqliteConnection::connect_with(options).await {
            Ok(conn) => return Ok(conn.close().await?),
            Err(error) if is_busy(&error) && Instant::now() < deadline => {
                tokio::time::sleep(WAL_RETRY).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Whether SQLite refused because another connection held a lock.
fn is_busy(error: &sqlx::Error) -> bool {
    let code = match error {
        sqlx::Error::Database(db) => db.code(),
        _ => None,
    };
    // Extended result codes keep the primary code in the low byte.
    code.and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == SQLITE_BUSY)
}

impl SqliteStore {
    /// A write transaction that holds the database's write lock from its
    /// first statement; it rolls back when dropped without `commit`.
    async fn write(&self) -> DataResult<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// The SQLite migrations, embedded in the binary.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

#[async_trait]
impl Database for SqliteStore {
    /// sqlx takes no lock around SQLite migrations, so two processes
    /// starting on a fresh file would both apply them. Running the migrator
    /// inside one immediate transaction makes the second wait on the write
    /// lock, then find everything applied. (Each migration's own
    /// transaction becomes a savepoint inside it.)
    async fn migrate(&self) -> DataResult<()> {
        let mut tx = self.write().await?;
        // `run_direct` is `run` without the `Acquire` bound that cannot be
        // proven for a borrowed connection inside a `Send` future.
        MIGRATOR.run_direct(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn ping(&self) -> DataResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn pool_usage(&self) -> PoolUsage {
        PoolUsage {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
        }
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_saturated_pool_fails_within_the_acquire_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/app.db", dir.path().display());
        let pool = open(&url).await.unwrap();
        let store = SqliteStore {
            generation: Arc::new(generation::for_pool(&url, &pool).await.unwrap()),
            pool,
        };
        let mut held = Vec::new();
        for _ in 0..POOL_SIZE {
            held.push(store.pool.acquire().await.unwrap());
        }
        let started = Instant::now();
        // sqlx's default would wait 30 s.
        let refused = tokio::time::timeout(Duration::from_secs(10), store.ping())
            .await
            .expect("the wait is bounded");
        assert!(
            matches!(refused, Err(DataError::Unavailable(_))),
            "{refused:?}"
        );
        assert!(started.elapsed() >= ACQUIRE_TIMEOUT);
        drop(held);
        store.ping().await.unwrap();
    }
}
