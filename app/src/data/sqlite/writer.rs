//! The one writer connection of a process, and the thread that owns it.
//!
//! Requests do not open write transactions: they hand their write over as
//! a closure over the connection and wait for the answer. Once a write is
//! queued, the writer takes this process's turn at the file ([`Turns`]),
//! then whatever is queued by then (up to [`MAX_BATCH`]), and runs the lot
//! in one `BEGIN IMMEDIATE` transaction, each write inside its own
//! savepoint, then commits once and
//! answers every caller. One commit and one lock hand-over for many writes
//! is what lets writes scale; the savepoints keep each write's outcome its
//! own. What to do when a step fails is decided in [`batch`].
//!
//! The connection is a `rusqlite` one owned by a dedicated OS thread, so a
//! whole batch runs on that thread with no hand-over per statement (sqlx
//! runs every SQLite statement on its own worker thread and costs two
//! thread switches each; a post create is about eight statements). Waiting
//! for the turn blocks this thread only.
//!
//! A caller that goes away (its client disconnected) only drops its end of
//! the answer: the write still runs to the end or not at all, and the
//! connection never goes back anywhere inside a transaction.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use super::SQLITE_BUSY;
use super::batch::{Recovery, Step, Unrun, keep_connection, recover};
use super::checkpoint::{self, Nudge, WRITER_BACKSTOP_PAGES};
use super::cpus::spread_over;
use super::generation::SharedGeneration;
use super::priority;
use super::turns::{Turn, Turns};
use crate::data::{DataError, DataResult};

/// The most writes one transaction carries: enough to amortise the commit
/// and the lock hand-over under load, few enough that the other process
/// does not wait long for its turn.
const MAX_BATCH: usize = 128;

/// Writes waiting for the writer; a request that finds the queue full
/// waits for room (it has started nothing yet, so it may be cancelled).
const QUEUE: usize = 1024;

/// Statements each writer connection keeps prepared: every write statement
/// of the application, with room to spare.
const STATEMENT_CACHE: usize = 64;

/// The handle requests submit writes through.
pub(super) struct Writer {
    /// The writer thread's queue.
    queue: mpsc::Sender<Command>,
    /// The CPUs the writer thread may run on (empty: wherever the process
    /// may), for the threads that work beside it.
    cpus: Vec<usize>,
}

/// What the writer thread is asked to do.
enum Command {
    /// Run this write in a coming batch.
    Write(Box<dyn Job>),
    /// Finish what is queued, close the connection, then say so.
    Close(oneshot::Sender<()>),
}

/// How the writer opens its connection, first and after a failed batch.
pub(super) struct Opener {
    /// The file (or shared in-memory name) sqlx opens too.
    pub(super) filename: PathBuf,
    /// An in-memory database, shared with the read pool through the cache.
    pub(super) in_memory: bool,
    /// How long a statement waits for another connection's lock.
    pub(super) busy_timeout: Duration,
}

impl Opener {
    /// Opens a writer connection with the settings every write relies on:
    /// WAL, `synchronous=NORMAL`, foreign keys on, and `busy_timeout`.
    pub(super) fn open(&self) -> rusqlite::Result<Connection> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        flags |= if self.in_memory {
            OpenFlags::SQLITE_OPEN_MEMORY | OpenFlags::SQLITE_OPEN_SHARED_CACHE
        } else {
            OpenFlags::SQLITE_OPEN_PRIVATE_CACHE
        };
        let conn = Connection::open_with_flags(&self.filename, flags)?;
        conn.busy_timeout(self.busy_timeout)?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // A savepoint keeps the pages it changes in a statement journal,
        // which SQLite spills to a temporary file past 64 KiB: with one
        // savepoint per write, nine in ten of the writer's `pwrite`s under
        // S4 went there. In memory it stays.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_BACKSTOP_PAGES)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }
}

impl Writer {
    /// Starts the writer thread on a connection `opener` opens (again
    /// whenever one has to be replaced).
    pub(super) fn start(
        opener: Opener,
        turns: Arc<Turns>,
        generation: Arc<SharedGeneration>,
        sessions: Arc<SharedGeneration>,
        cpus: Vec<usize>,
    ) -> DataResult<Self> {
        let conn = opener.open()?;
        // An in-memory database has no WAL to copy back.
        let checkpoints = if opener.in_memory {
            None
        } else {
            Some(checkpoint::start(&opener, &cpus)?)
        };
        let (queue, commands) = mpsc::channel(QUEUE);
        let shared = Shared {
            opener,
            turns,
            generation,
            sessions,
            checkpoints,
        };
        let spread = cpus.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || {
                spread_over(&spread);
                priority::raise_calling_thread(priority::WRITER_NICE);
                serve(Some(conn), &shared, commands)
            })
            .map_err(|error| DataError::Unavailable(Box::new(error)))?;
        Ok(Self { queue, cpus })
    }

    /// The CPUs the writer thread may run on; empty when it runs wherever
    /// the process may.
    pub(super) fn cpus(&self) -> &[usize] {
        &self.cpus
    }

    /// Runs `work` in the writer's next transaction and returns its result
    /// once that transaction committed (an error as soon as it is known).
    /// The counters `moves` names move with its transaction's commit.
    pub(super) async fn write<T, F>(&self, moves: Moves, work: F) -> DataResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> DataResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Pending {
            moves,
            work: Some(work),
            done: None,
            reply: Some(reply),
        };
        self.queue
            .send(Command::Write(Box::new(job)))
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Lets the writer finish the writes already queued, then closes its
    /// connection.
    pub(super) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.queue.send(Command::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }
}

/// The answer when the writer is gone: the store was closed, or a write
/// panicked and took its batch with it.
fn gone() -> DataError {
    DataError::Unavailable(Box::new(Failed {
        step: "handing the write to the writer",
        reason: "the writer stopped".to_owned(),
    }))
}

/// Why a write that did nothing wrong itself was not done.
#[derive(Debug, thiserror::Error)]
#[error("the SQLite write batch failed {step}: {reason}")]
struct Failed {
    /// The step of the batch that failed.
    step: &'static str,
    /// The database's error, as text (every caller of the batch gets one).
    reason: String,
}

/// A write in the writer's hands, whatever its result type.
trait Job: Send {
    /// Which shared counters its commit moves.
    fn moves(&self) -> Moves;
    /// Runs the write; `false` when it failed, in which case its caller
    /// has been answered with the error already.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller with what the write returned: its transaction
    /// committed.
    fn succeed(self: Box<Self>);
    /// Answers the caller with `error`: the write is not in the database.
    fn fail(self: Box<Self>, error: DataError);
}

/// A write and the caller waiting for it.
struct Pending<T, F> {
    /// Which shared counters its commit moves.
    moves: Moves,
    /// The work, until it runs.
    work: Option<F>,
    /// What it returned, until the commit.
    done: Option<T>,
    /// Where the answer goes; a caller that went away ignores it.
    reply: Option<oneshot::Sender<DataResult<T>>>,
}

impl<T, F> Pending<T, F> {
    /// Sends `answer`, at most once.
    fn answer(&mut self, answer: DataResult<T>) {
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(answer);
        }
    }
}

impl<T, F> Job for Pending<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> DataResult<T> + Send + 'static,
{
    fn moves(&self) -> Moves {
        self.moves
    }

    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        match work(conn) {
            Ok(value) => {
                self.done = Some(value);
                true
            }
            Err(error) => {
                self.answer(Err(error));
                false
            }
        }
    }

    fn succeed(mut self: Box<Self>) {
        if let Some(value) = self.done.take() {
            self.answer(Ok(value));
        }
    }

    fn fail(mut self: Box<Self>, error: DataError) {
        self.answer(Err(error));
    }
}

/// What every batch of one process shares.
struct Shared {
    /// Opens a new connection when one has to be replaced.
    opener: Opener,
    /// This process's turns at the file.
    turns: Arc<Turns>,
    /// Counted after every commit of a content write.
    generation: Arc<SharedGeneration>,
    /// Counted after every commit that revokes a session or changes a role.
    sessions: Arc<SharedGeneration>,
    /// Told after every batch, so that the WAL is copied back off this
    /// thread; `None` in memory.
    checkpoints: Option<Nudge>,
}

/// The writer thread: gathers a batch, runs it, and again, until closed
/// or every handle is gone.
fn serve(mut conn: Option<Connection>, shared: &Shared, mut commands: mpsc::Receiver<Command>) {
    let mut jobs: Vec<Box<dyn Job>> = Vec::new();
    let mut closing = None;
    loop {
        if jobs.is_empty() && closing.is_none() {
            match commands.blocking_recv() {
                Some(Command::Write(job)) => jobs.push(job),
                Some(Command::Close(done)) => closing = Some(done),
                None => break,
            }
        }
        // Nothing to write: a close with nothing queued.
        if jobs.is_empty() {
            break;
        }
        // The turn first, then the batch: writes queued while the other
        // process had its turn join this one rather than wait for the
        // next (with two busy workers, that wait was a whole extra turn).
        let turn = shared.turns.take_blocking();
        while jobs.len() < MAX_BATCH && closing.is_none() {
            match commands.try_recv() {
                Ok(Command::Write(job)) => jobs.push(job),
                Ok(Command::Close(done)) => closing = Some(done),
                Err(_) => break,
            }
        }
        (conn, jobs) = next_batch(conn, shared, jobs, turn);
    }
    drop(conn);
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

/// Runs one batch on `conn`, or a new connection when there is none;
/// returns the connection when it is fit for the next batch, and the jobs
/// to run again.
///
/// A panicking write takes down only its batch: the callers of that batch
/// get "the writer stopped" (their answers are dropped with the jobs), and
/// the connection, maybe inside the transaction, is dropped, which closes
/// it and rolls back.
fn next_batch(
    conn: Option<Connection>,
    shared: &Shared,
    jobs: Vec<Box<dyn Job>>,
    turn: Turn,
) -> (Option<Connection>, Vec<Box<dyn Job>>) {
    let conn = match conn {
        Some(conn) => conn,
        None => match shared.opener.open() {
            Ok(conn) => conn,
            Err(error) => {
                let reason = error.to_string();
                for job in jobs {
                    job.fail(failed("opening the writer connection", &reason));
                }
                return (None, Vec::new());
            }
        },
    };
    match catch_unwind(AssertUnwindSafe(|| batch(conn, shared, jobs, turn))) {
        Ok(outcome) => outcome,
        Err(_) => {
            tracing::error!("an SQLite write panicked; its batch is lost");
            (None, Vec::new())
        }
    }
}

/// Runs `jobs` as one batch on `conn` during one turn at the file;
/// returns the connection when it is fit for the next batch.
fn batch(
    conn: Connection,
    shared: &Shared,
    jobs: Vec<Box<dyn Job>>,
    turn: Turn,
) -> (Option<Connection>, Vec<Box<dyn Job>>) {
    let ended = transact(&conn, shared, jobs);
    drop(turn);
    if let Some(checkpoints) = &shared.checkpoints {
        checkpoints.commit_landed();
    }
    // Or this thread would take the lock back before the other process's
    // writer, woken, gets to it.
    shared.turns.let_waiter_go();
    if keep_connection(ended.reopen, !conn.is_autocommit()) {
        (Some(conn), ended.requeued)
    } else {
        tracing::warn!("closing the SQLite writer connection after a failed batch");
        drop(conn);
        (None, ended.requeued)
    }
}

/// How a batch ended, for the connection and the jobs it did not run.
struct Ended {
    /// Whether the connection must be replaced.
    reopen: bool,
    /// Jobs to run in the next batch.
    requeued: Vec<Box<dyn Job>>,
}

/// The answer for a write lost to a failure of the batch at `step`.
fn failed(step: &'static str, reason: &str) -> DataError {
    DataError::Unavailable(Box::new(Failed {
        step,
        reason: reason.to_owned(),
    }))
}

/// One transaction over `jobs`: each in a savepoint, one commit, then the
/// answers. On a failure of the batch, carries out [`recover`].
fn transact(conn: &Connection, shared: &Shared, jobs: Vec<Box<dyn Job>>) -> Ended {
    if let Err(error) = conn.execute_batch("BEGIN IMMEDIATE") {
        return settle(Step::Begin, &error, Vec::new(), jobs);
    }
    let mut done = Vec::with_capacity(jobs.len());
    let mut waiting = jobs.into_iter();
    while let Some(mut job) = waiting.next() {
        match run_one(conn, job.as_mut()) {
            Ok(true) => done.push(job),
            Ok(false) => {}
            Err((step, error)) => {
                let mut rest: Vec<_> = waiting.collect();
                if step == Step::OpenSavepoint {
                    rest.insert(0, job);
                } else {
                    done.push(job);
                }
                // A failed rollback changes nothing: the connection goes.
                let _ = conn.execute_batch("ROLLBACK");
                return settle(step, &error, done, rest);
            }
        }
    }
    let moved = |moves: fn(Moves) -> bool| done.iter().any(|job| moves(job.moves()));
    let content = moved(|moves| moves.content).then_some(&*shared.generation);
    let sessions = moved(|moves| moves.sessions).then_some(&*shared.sessions);
    match commit(conn, content, sessions) {
        Ok(()) => {
            for job in done {
                job.succeed();
            }
            Ended {
                reopen: false,
                requeued: Vec::new(),
            }
        }
        Err(error) => {
            // A failed COMMIT may leave the transaction open.
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            settle(Step::Commit, &error, done, Vec::new())
        }
    }
}

/// Commits a batch: the one place a SQLite write transaction commits.
/// When the batch changed content or sessions, the commit goes through
/// that counter's protocol (both: one inside the other), so it is counted
/// before any of its callers is answered.
fn commit(
    conn: &Connection,
    content: Option<&SharedGeneration>,
    sessions: Option<&SharedGeneration>,
) -> rusqlite::Result<()> {
    counted(sessions, || {
        counted(content, || conn.execute_batch("COMMIT"))
    })
}

/// Runs `commit` through `counter`'s protocol, or as it is without one.
fn counted(
    counter: Option<&SharedGeneration>,
    commit: impl FnOnce() -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    match counter {
        Some(counter) => counter.commit_blocking(commit),
        None => commit(),
    }
}

/// Which counters shared by the processes on the file a write's commit
/// moves, so that what they key is not read from before it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Moves {
    /// The content generation: the write changes posts, tags or comments.
    pub(super) content: bool,
    /// The sessions' counter: it revokes a session or changes a role.
    pub(super) sessions: bool,
}

/// Runs one job in its own savepoint: `Ok(false)` when the job failed and
/// was undone alone; `Err` when the savepoint itself failed.
fn run_one(conn: &Connection, job: &mut dyn Job) -> Result<bool, (Step, rusqlite::Error)> {
    conn.execute_batch("SAVEPOINT write")
        .map_err(|e| (Step::OpenSavepoint, e))?;
    let succeeded = job.run(conn);
    let closed = if succeeded {
        conn.execute_batch("RELEASE write")
    } else {
        conn.execute_batch("ROLLBACK TO write; RELEASE write")
    };
    closed.map_err(|e| (Step::CloseSavepoint, e))?;
    Ok(succeeded)
}

/// Whether SQLite refused because another connection held a lock.
fn is_busy(error: &rusqlite::Error) -> bool {
    // Extended result codes keep the primary code in the low byte.
    error
        .sqlite_error()
        .is_some_and(|failure| failure.extended_code & 0xff == SQLITE_BUSY)
}

/// Carries out [`recover`] for a batch that failed at `step` with
/// `error`: `done` ran and is rolled back, `rest` never ran.
fn settle(
    step: Step,
    error: &rusqlite::Error,
    done: Vec<Box<dyn Job>>,
    rest: Vec<Box<dyn Job>>,
) -> Ended {
    tracing::warn!(%error, step = step.describe(), "an SQLite write batch failed");
    let Recovery { unrun, reopen } = recover(step, is_busy(error));
    let reason = error.to_string();
    for job in done {
        job.fail(failed(step.describe(), &reason));
    }
    let requeued = match unrun {
        Unrun::Requeue => rest,
        Unrun::Fail => {
            for job in rest {
                job.fail(failed(step.describe(), &reason));
            }
            Vec::new()
        }
    };
    Ended { reopen, requeued }
}
