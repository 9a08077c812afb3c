//! The one writer connection of a process, and the task that owns it.
//!
//! Requests do not open write transactions: they hand their write over as
//! a unit of work ([`Work`]) and wait for the answer. The writer takes
//! whatever is queued (up to [`MAX_BATCH`]), takes this process's turn at
//! the file ([`Turns`]), and runs the lot in one `BEGIN IMMEDIATE`
//! transaction, each write inside its own savepoint, then commits once and
//! answers every caller. One commit and one lock hand-over for many writes
//! is what lets writes scale; the savepoints keep each write's outcome its
//! own. What to do when a step fails is decided in [`batch`].
//!
//! A caller that goes away (its client disconnected) only drops its end of
//! the answer: the write still runs to the end or not at all, and the
//! connection never goes back anywhere inside a transaction.

use std::pin::Pin;
use std::sync::Arc;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, Database, Sqlite, Transaction, TransactionManager};
use tokio::sync::{mpsc, oneshot};

use super::batch::{Recovery, Step, Unrun, keep_connection, recover};
use super::generation::SharedGeneration;
use super::is_busy;
use super::turns::Turns;
use crate::data::connect::Work;
use crate::data::{DataError, DataResult};

/// The most writes one transaction carries: enough to amortise the commit
/// and the lock hand-over under load, few enough that the other process
/// does not wait long for its turn.
const MAX_BATCH: usize = 128;

/// Writes waiting for the writer; a request that finds the queue full
/// waits for room (it has started nothing yet, so it may be cancelled).
const QUEUE: usize = 1024;

/// The handle requests submit writes through.
pub(super) struct Writer {
    /// The writer task's queue.
    queue: mpsc::Sender<Command>,
}

/// What the writer task is asked to do.
enum Command {
    /// Run this write in a coming batch.
    Write(Box<dyn Job>),
    /// Finish what is queued, close the connection, then say so.
    Close(oneshot::Sender<()>),
}

impl Writer {
    /// Starts the writer task on `conn`; `options` open a new connection
    /// when one has to be replaced.
    pub(super) fn start(
        conn: SqliteConnection,
        options: SqliteConnectOptions,
        turns: Turns,
        generation: Arc<SharedGeneration>,
    ) -> Self {
        let (queue, commands) = mpsc::channel(QUEUE);
        let shared = Shared {
            turns: Arc::new(turns),
            generation,
        };
        tokio::spawn(serve(Some(conn), options, shared, commands));
        Self { queue }
    }

    /// Runs `work` in the writer's next transaction and returns its result
    /// once that transaction committed (an error as soon as it is known).
    /// A `content` write (posts, tags, comments) makes its transaction's
    /// commit count a new content generation.
    pub(super) async fn write<T, F>(&self, content: bool, work: F) -> DataResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> Work<'c, T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Pending {
            content,
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

/// The answer when the writer task is gone: the store was closed, or a
/// write panicked and took its batch with it.
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
    /// Whether the write changes posts, tags or comments.
    fn content(&self) -> bool;
    /// Runs the write; `false` when it failed, in which case its caller
    /// has been answered with the error already.
    fn run<'a>(
        &'a mut self,
        conn: &'a mut SqliteConnection,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>>;
    /// Answers the caller with what the write returned: its transaction
    /// committed.
    fn succeed(self: Box<Self>);
    /// Answers the caller with `error`: the write is not in the database.
    fn fail(self: Box<Self>, error: DataError);
}

/// A write and the caller waiting for it.
struct Pending<T, F> {
    /// Whether it changes posts, tags or comments.
    content: bool,
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
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> Work<'c, T> + Send + 'static,
{
    fn content(&self) -> bool {
        self.content
    }

    fn run<'a>(
        &'a mut self,
        conn: &'a mut SqliteConnection,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(async move {
            let Some(work) = self.work.take() else {
                return false;
            };
            match work(conn).await {
                Ok(value) => {
                    self.done = Some(value);
                    true
                }
                Err(error) => {
                    self.answer(Err(error));
                    false
                }
            }
        })
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
#[derive(Clone)]
struct Shared {
    /// This process's turns at the file.
    turns: Arc<Turns>,
    /// Counted after every commit of a content write.
    generation: Arc<SharedGeneration>,
}

/// The writer task: gathers a batch, runs it, and again, until closed.
async fn serve(
    mut conn: Option<SqliteConnection>,
    options: SqliteConnectOptions,
    shared: Shared,
    mut commands: mpsc::Receiver<Command>,
) {
    let mut jobs: Vec<Box<dyn Job>> = Vec::new();
    let mut closing = None;
    loop {
        if jobs.is_empty() && closing.is_none() {
            match commands.recv().await {
                Some(Command::Write(job)) => jobs.push(job),
                Some(Command::Close(done)) => closing = Some(done),
                None => break,
            }
        }
        while jobs.len() < MAX_BATCH && closing.is_none() {
            match commands.try_recv() {
                Ok(Command::Write(job)) => jobs.push(job),
                Ok(Command::Close(done)) => closing = Some(done),
                Err(_) => break,
            }
        }
        if jobs.is_empty() {
            break;
        }
        (conn, jobs) = next_batch(conn, &options, &shared, jobs).await;
    }
    if let Some(conn) = conn {
        let _ = conn.close().await;
    }
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

/// Runs one batch in a task of its own, on `conn` or a new connection
/// when there is none; returns the connection when it is fit for the
/// next batch, and the jobs to run again.
///
/// The task lets a panicking write take down only its batch: the callers
/// of that batch get "the writer stopped", the connection (maybe inside
/// the transaction) is dropped, which closes it and rolls back.
async fn next_batch(
    conn: Option<SqliteConnection>,
    options: &SqliteConnectOptions,
    shared: &Shared,
    jobs: Vec<Box<dyn Job>>,
) -> (Option<SqliteConnection>, Vec<Box<dyn Job>>) {
    let conn = match conn {
        Some(conn) => conn,
        None => match SqliteConnection::connect_with(options).await {
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
    match tokio::spawn(batch(conn, shared.clone(), jobs)).await {
        Ok(outcome) => outcome,
        Err(panicked) => {
            tracing::error!(error = %panicked, "an SQLite write panicked; its batch is lost");
            (None, Vec::new())
        }
    }
}

/// Runs `jobs` as one batch on `conn` during one turn at the file;
/// returns the connection when it is fit for the next batch.
async fn batch(
    mut conn: SqliteConnection,
    shared: Shared,
    jobs: Vec<Box<dyn Job>>,
) -> (Option<SqliteConnection>, Vec<Box<dyn Job>>) {
    let turn = shared.turns.take().await;
    let ended = transact(&mut conn, &shared.generation, jobs).await;
    drop(turn);
    let depth = <Sqlite as Database>::TransactionManager::get_transaction_depth(&conn);
    if keep_connection(ended.reopen, depth) {
        (Some(conn), ended.requeued)
    } else {
        tracing::warn!("closing the SQLite writer connection after a failed batch");
        let _ = conn.close().await;
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
async fn transact(
    conn: &mut SqliteConnection,
    generation: &SharedGeneration,
    jobs: Vec<Box<dyn Job>>,
) -> Ended {
    let mut tx = match conn.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(error) => return settle(Step::Begin, &error, Vec::new(), jobs),
    };
    let mut done = Vec::with_capacity(jobs.len());
    let mut waiting = jobs.into_iter();
    while let Some(mut job) = waiting.next() {
        match run_one(&mut tx, job.as_mut()).await {
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
                let _ = tx.rollback().await;
                return settle(step, &error, done, rest);
            }
        }
    }
    let content = done.iter().any(|job| job.content());
    match commit(tx, content.then_some(generation)).await {
        Ok(()) => {
            for job in done {
                job.succeed();
            }
            Ended {
                reopen: false,
                requeued: Vec::new(),
            }
        }
        Err(error) => settle(Step::Commit, &error, done, Vec::new()),
    }
}

/// Commits a batch: the one place a SQLite write transaction commits.
/// When the batch changed content, the commit goes through `generation`'s
/// protocol, so it is counted before any of its callers is answered.
async fn commit(
    tx: Transaction<'_, Sqlite>,
    generation: Option<&SharedGeneration>,
) -> Result<(), sqlx::Error> {
    match generation {
        Some(generation) => generation.commit(tx.commit()).await,
        None => tx.commit().await,
    }
}

/// Runs one job in its own savepoint: `Ok(false)` when the job failed and
/// was undone alone; `Err` when the savepoint itself failed.
async fn run_one(
    tx: &mut Transaction<'_, Sqlite>,
    job: &mut dyn Job,
) -> Result<bool, (Step, sqlx::Error)> {
    let mut savepoint = tx.begin().await.map_err(|e| (Step::OpenSavepoint, e))?;
    let succeeded = job.run(&mut savepoint).await;
    let closed = if succeeded {
        savepoint.commit().await
    } else {
        savepoint.rollback().await
    };
    closed.map_err(|e| (Step::CloseSavepoint, e))?;
    Ok(succeeded)
}

/// Carries out [`recover`] for a batch that failed at `step` with
/// `error`: `done` ran and is rolled back, `rest` never ran.
fn settle(
    step: Step,
    error: &sqlx::Error,
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
