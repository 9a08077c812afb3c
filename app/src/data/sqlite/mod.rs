//! The SQLite backend: one file shared by every worker process.
//!
//! WAL lets readers run beside the one writer. Each process has one
//! writer connection (`rusqlite`), owned by a thread ([`writer`]) that
//! every write goes through, and a pool of read connections that cannot write
//! (`query_only`). The writer runs what is queued in one transaction opened
//! with `BEGIN IMMEDIATE`, which takes the write lock before reading
//! anything (a deferred transaction that read first and then tried to write
//! would get `SQLITE_BUSY` at once whenever another process wrote in
//! between), each write in its own savepoint, and commits once; processes
//! sharing the file take turns at it through a lock file ([`turns`]), with
//! `busy_timeout` as the safety net. Usually only one of them writes: the
//! writer host ([`host`]) runs every process's writes ([`writes`]) on its
//! writer, so its page cache stays warm and its batches full. A batch that
//! changed posts, tags or comments commits through the content
//! generation's protocol ([`generation`]), so cached reads in every process
//! see it once it is acknowledged.
//!
//! Ids are stored as UUID text and times as fixed-width RFC 3339 text
//! ([`codec`]), so text order is id and time order.

mod auth;
mod batch;
mod checkpoint;
mod codec;
mod comments;
mod cpus;
mod generation;
mod host;
mod posts;
mod priority;
mod reads;
mod sessions;
mod social;
mod turns;
mod users;
mod wire;
mod writer;
mod writes;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, Sqlite, TransactionManager};

use self::generation::SharedGeneration;
use self::host::Host;
use self::sessions::SessionCache;
use self::turns::Turns;
use self::writer::{Opener, Writer};
use self::writes::{Answer, Write};
use super::connect::{DbOptions, log_slow, repositories};
use super::guard::Breaker;
use super::{DataError, DataResult, Database, PoolUsage, Repositories};

/// How long to wait before trying again to open a file another process is
/// switching to WAL.
const WAL_RETRY: Duration = Duration::from_millis(10);

/// SQLite's primary result code for "another connection holds the lock".
const SQLITE_BUSY: i32 = 5;

/// Each read connection's page cache, in KiB as `PRAGMA cache_size` takes
/// it (negative: a size, not a page count). SQLite's default is 2,000 KiB,
/// which over the whole pool grew a worker past 30 MiB after a write-heavy
/// mix; the hot reads are served from the read cache, and a page cache is
/// emptied whenever another connection has committed anyway.
const READER_CACHE_KIB: &str = "-512";

/// Every repository over one SQLite file: reads on a pool, writes through
/// the process's one writer.
pub(crate) struct SqliteStore {
    /// The read connections; they refuse to write.
    pool: SqlitePool,
    /// The writer thread's handle.
    writer: Arc<Writer>,
    /// Where writes go: this process's writer or the writer host's.
    host: Host,
    /// How migrations (on sqlx, before any write) open their connection.
    options: SqliteConnectOptions,
    /// This process's turns at the file, taken by migrations too.
    turns: Arc<Turns>,
    /// Session checks answered from memory while no revocation landed.
    sessions: SessionCache,
}

/// Opens (creating when missing) the SQLite file named by `url`.
/// SQLite bounds its own waits (`busy_timeout`, the pool's acquire
/// timeout), so its breaker adds no bound of its own.
pub(crate) async fn connect(url: &str, options: &DbOptions) -> DataResult<Repositories> {
    let breaker = Arc::new(Breaker::new("sqlite", None, None, Arc::default()));
    connect_behind(url, options, breaker).await
}

/// [`connect`] with the breaker given. The content generation lives in
/// shared memory, not in the file: reading it cannot fail for the database
/// being unreachable, so it passes no breaker, and while the circuit is
/// open a read the cache holds is still served.
async fn connect_behind(
    url: &str,
    options: &DbOptions,
    breaker: Arc<Breaker>,
) -> DataResult<Repositories> {
    let (store, generation) = SqliteStore::open(url, options).await?;
    Ok(repositories(Arc::new(store), generation, breaker))
}

impl SqliteStore {
    /// Opens the writer connection (which creates the file and switches it
    /// to WAL), then the read pool, sized as `db.pool` says: a request that
    /// finds every read connection busy waits at most `db.timeouts.connect`,
    /// then fails (503).
    ///
    /// An in-memory database is private to its connection, so the readers
    /// would not see the writer's: use a file (or `mode=memory&cache=shared`).
    ///
    /// Returns the content generation beside the store: the writer counts
    /// it after every commit of posts, tags or comments, and reads take it.
    async fn open(url: &str, db: &DbOptions) -> DataResult<(Self, Arc<SharedGeneration>)> {
        let timeouts = db.timeouts;
        let options = log_slow(SqliteConnectOptions::from_str(url)?, db.slow_statement)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(timeouts.statement)
            .foreign_keys(true);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let (first, turns) = if in_memory {
            (
                SqliteConnection::connect_with(&options).await?,
                Turns::alone(),
            )
        } else {
            create_folder(options.get_filename())?;
            let turns = Turns::beside(options.get_filename())
                .map_err(|error| DataError::Unavailable(Box::new(error)))?;
            (switch_to_wal(&options, timeouts.statement).await?, turns)
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(db.pool.max)
            .min_connections(db.pool.min)
            .idle_timeout(db.pool.idle_timeout)
            .acquire_timeout(timeouts.connect)
            // Nothing on this pool opens a transaction; should a connection
            // come back inside one all the same, it is closed, not reused.
            .after_release(|conn, _| {
                let depth =
                    <Sqlite as sqlx::Database>::TransactionManager::get_transaction_depth(conn);
                Box::pin(async move { Ok(depth == 0) })
            })
            .connect_with(
                options
                    .clone()
                    .pragma("query_only", "ON")
                    .pragma("cache_size", READER_CACHE_KIB),
            )
            .await?;
        let generation = Arc::new(generation::for_pool(url, &pool, generation::CONTENT).await?);
        let sessions = Arc::new(generation::for_pool(url, &pool, generation::SESSIONS).await?);
        let opener = Opener {
            filename: options.get_filename().to_owned(),
            in_memory,
            busy_timeout: timeouts.statement,
        };
        let turns = Arc::new(turns);
        let writer = Arc::new(Writer::start(
            opener,
            Arc::clone(&turns),
            Arc::clone(&generation),
            Arc::clone(&sessions),
            db.writer_cpus.clone(),
        )?);
        // The file is in WAL and the writer has its own connection now (an
        // in-memory database lives on while the pool holds it open).
        first.close().await?;
        let file = (!in_memory).then(|| options.get_filename());
        let host = Host::open(file, Arc::clone(&writer), timeouts.statement);
        Ok((
            Self {
                pool,
                writer,
                host,
                options,
                turns,
                sessions: SessionCache::new(sessions),
            },
            generation,
        ))
    }

    /// Runs `write` in a write transaction of the file's writer (the
    /// writer host's, or this process's), and returns its result once
    /// committed. The write runs to its end (or not at all) even when the
    /// caller stops waiting.
    async fn submit<T: Answer>(&self, write: Write) -> DataResult<T> {
        self.host.submit(write).await
    }
}

/// `db` with `suffix` appended to its file name: where the files that go
/// with a database live (`-writer.lock`, `-writer.host`, `-writer.sock`,
/// `-generation`), as SQLite's own `-wal` and `-shm` do.
fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
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

/// Opens the writer connection, which switches a new file to WAL (a
/// lasting setting of the file), before the pool opens more.
///
/// The switch needs the file to itself, and SQLite answers `SQLITE_BUSY` at
/// once, without waiting on `busy_timeout`, when another process is opening
/// the same new file at that moment; so this retries, for as long as a
/// statement would wait (`busy_timeout`). Once the file is in WAL, opening
/// never needs that.
async fn switch_to_wal(
    options: &SqliteConnectOptions,
    busy_timeout: Duration,
) -> DataResult<SqliteConnection> {
    let deadline = Instant::now() + busy_timeout;
    loop {
        match SqliteConnection::connect_with(options).await {
            Ok(conn) => return Ok(conn),
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

/// The SQLite migrations, embedded in the binary.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

#[async_trait]
impl Database for SqliteStore {
    /// sqlx takes no lock around SQLite migrations, so two processes
    /// starting on a fresh file would both apply them. Running the migrator
    /// during this process's turn, inside an immediate transaction, makes
    /// the second wait on the write lock, then find everything applied.
    /// (Each migration's own transaction becomes a savepoint inside it.)
    /// Migrations stay on sqlx, on a connection of their own: they run once
    /// per process, before requests write.
    async fn migrate(&self) -> DataResult<()> {
        let mut conn = SqliteConnection::connect_with(&self.options).await?;
        let turn = self.turns.take().await;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        // `run_direct` is `run` without the `Acquire` bound that cannot be
        // proven for a borrowed connection inside a `Send` future.
        MIGRATOR.run_direct(&mut *tx).await?;
        tx.commit().await?;
        drop(turn);
        conn.close().await?;
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
        self.host.close().await;
        self.writer.close().await;
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::writer::Moves;
    use super::*;
    use crate::data::ContentGeneration as _;

    /// A store on `app.db` in a folder of its own, kept while the folder
    /// lives.
    async fn fresh() -> (tempfile::TempDir, SqliteStore, Arc<SharedGeneration>) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/app.db", dir.path().display());
        let (store, generation) = SqliteStore::open(&url, &DbOptions::default())
            .await
            .unwrap();
        (dir, store, generation)
    }

    /// Runs `sql` on the store's own writer.
    async fn execute(store: &SqliteStore, sql: &'static str) {
        store
            .writer
            .write(Moves::default(), move |conn| Ok(conn.execute_batch(sql)?))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_writer_thread_runs_ahead_of_the_request_threads_when_permitted() {
        let (_dir, store, _) = fresh().await;
        let nice = || rustix::process::getpriority_process(priority::calling_thread()).unwrap();
        let writers = store
            .writer
            .write(Moves::default(), move |_| Ok(nice()))
            .await
            .unwrap();
        let requests = nice();
        if nix::unistd::geteuid().is_root() {
            assert_eq!(writers, priority::WRITER_NICE);
            assert_ne!(requests, writers, "only the writer's thread");
        } else {
            assert!(writers <= requests, "never behind the requests");
        }
    }

    #[test]
    fn the_files_of_a_database_sit_beside_it() {
        assert_eq!(
            beside(Path::new("data/app.db"), "-writer.lock"),
            Path::new("data/app.db-writer.lock")
        );
    }

    #[tokio::test]
    async fn an_open_circuit_refuses_the_files_calls_but_not_the_generation_in_shared_memory() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/app.db", dir.path().display());
        let breaker = Arc::new(Breaker::new("sqlite", None, None, Arc::default()));
        let repositories = connect_behind(&url, &DbOptions::default(), Arc::clone(&breaker))
            .await
            .unwrap();
        for _ in 0..crate::data::circuit::OPEN_AFTER {
            let lost = std::io::Error::other("the disk went away");
            let failed: DataResult<()> = breaker
                .call(async { Err(DataError::Unavailable(Box::new(lost))) })
                .await;
            failed.unwrap_err();
        }
        let refused = repositories.posts.tag_counts().await.unwrap_err();
        let DataError::Unavailable(source) = &refused else {
            panic!("{refused:?}");
        };
        assert!(
            source.is::<crate::data::error::CircuitOpen>(),
            "{refused:?}"
        );
        // A read the cache holds needs only the generation.
        repositories.generation.current().await.unwrap();
    }

    #[tokio::test]
    async fn a_saturated_pool_fails_within_the_acquire_timeout() {
        let (_dir, store, _generation) = fresh().await;
        let mut held = Vec::new();
        for _ in 0..DbOptions::default().pool.max {
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
        assert!(started.elapsed() >= DbOptions::default().timeouts.connect);
        drop(held);
        store.ping().await.unwrap();
    }

    #[tokio::test]
    async fn a_failing_write_is_undone_alone_and_the_rest_of_its_batch_commits() {
        let (_dir, store, _generation) = fresh().await;
        execute(&store, "CREATE TABLE t (k TEXT PRIMARY KEY)").await;
        let insert = |keys: &'static [&'static str]| {
            store.writer.write(Moves::default(), move |conn| {
                for key in keys {
                    conn.execute("INSERT INTO t VALUES (?)", [key])?;
                }
                Ok(())
            })
        };
        // Queued together, so the writer takes them as one batch; the
        // second writes `x`, then collides on `a`: `x` must go with it.
        let (first, failing, last) =
            tokio::join!(insert(&["a"]), insert(&["x", "a"]), insert(&["b"]));
        first.unwrap();
        last.unwrap();
        assert!(
            matches!(failing, Err(DataError::Conflict { .. })),
            "{failing:?}"
        );
        let stored: Vec<String> = sqlx::query_scalar("SELECT k FROM t ORDER BY k")
            .fetch_all(&store.pool)
            .await
            .unwrap();
        assert_eq!(stored, ["a", "b"]);
        store.close().await;
    }

    #[tokio::test]
    async fn writes_queued_while_another_process_has_the_turn_join_one_batch() {
        let (dir, store, generation) = fresh().await;
        let path = dir.path().join("app.db");
        execute(&store, "CREATE TABLE t (k TEXT)").await;
        let before = generation.current().await.unwrap().serial;
        // Another process's writer: its own open file description of the
        // lock file, holding the turn.
        let other = Turns::beside(&path).unwrap();
        let held = other.take_blocking();
        let insert = |k: &'static str| {
            store.writer.write(
                Moves {
                    content: true,
                    ..Moves::default()
                },
                move |conn| {
                    conn.execute("INSERT INTO t VALUES (?)", [k])?;
                    Ok(())
                },
            )
        };
        // `a` reaches the writer, which then waits for the turn; `b` is
        // queued during that wait, and the turn comes after both.
        let late = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            insert("b").await
        };
        let release = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            drop(held);
        };
        let (a, b, ()) = tokio::join!(insert("a"), late, release);
        a.unwrap();
        b.unwrap();
        assert_eq!(
            generation.current().await.unwrap().serial,
            before + 1,
            "both writes in one transaction, so one new generation"
        );
        store.close().await;
    }

    #[tokio::test]
    async fn a_panicking_write_loses_its_batch_and_the_writer_goes_on() {
        let (_dir, store, _generation) = fresh().await;
        let panicked = store
            .writer
            .write(Moves::default(), |_| -> DataResult<()> {
                panic!("a bug in a write")
            })
            .await;
        assert!(
            matches!(panicked, Err(DataError::Unavailable(_))),
            "{panicked:?}"
        );
        execute(&store, "CREATE TABLE t (k TEXT)").await;
        store.close().await;
    }

    #[tokio::test]
    async fn the_read_pool_cannot_write() {
        let (_dir, store, _generation) = fresh().await;
        store.migrate().await.unwrap();
        let refused = sqlx::query("UPDATE content_generation SET generation = 1")
            .execute(&store.pool)
            .await;
        assert!(refused.is_err(), "{refused:?}");
    }
}
