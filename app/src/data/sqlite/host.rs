//! One writer for the file: the writer host.
//!
//! Every process has its writer ([`super::writer`]), but when several share
//! a file, one of them, the writer host, writes for all: the others send it
//! their writes ([`super::writes::Write`]) over a Unix socket beside the
//! file and wait for its answer. Measured with two workers under a stream
//! of post creations (bench S4), two writers taking turns reached 0.80 of
//! one process's rate: a connection's page cache is thrown away whenever
//! another connection has committed, so every turn started cold, and each
//! hand-over of the lock woke the other writer late. One host writer keeps
//! its cache and fills its batches with everyone's writes.
//!
//! The host is whichever process holds an exclusive `flock` on
//! `<file>-writer.host`; a process that finds it free (at start, or when
//! its link to the host ends) takes it and listens on `<file>-writer.sock`.
//! Correctness never depends on the host: a process without one writes on
//! its own writer, taking turns at the file as before.
//!
//! A host that closes (its worker drains) stops reading, answers every
//! write it read, then says goodbye; a write it did not read never ran, so
//! its sender runs it locally, and no write is lost in a hand-over. Only a
//! host that dies with writes in flight leaves their senders without an
//! answer: those fail, as the host's own requests do.

mod link;
mod serve;
#[cfg(test)]
mod tests;

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustix::fs::{FlockOperation, flock};
use tokio::io::AsyncWriteExt;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::mpsc;

use self::link::{Link, Sent};
use self::serve::Hosting;
use super::beside;
use super::writer::Writer;
use super::writes::{Answer, Write};
use crate::data::{DataError, DataResult};

/// The longest socket path a `sockaddr_un` holds (108 bytes with the
/// terminating NUL on Linux).
const MAX_SOCKET_PATH: usize = 107;

/// This process's place among the processes sharing one file.
pub(super) struct Host {
    /// Where the host lock and socket are; `None` in memory.
    paths: Option<Paths>,
    /// This process's own writer, for its writes when it has no host to
    /// send them to, and for everyone's while it is the host.
    writer: Arc<Writer>,
    /// Whether this process hosts, sends to a host, or writes alone.
    state: Mutex<State>,
    /// How long a write sent to the host waits for its answer.
    answer_timeout: Duration,
}

/// The files beside the database that the host is found by.
struct Paths {
    /// Held with an exclusive `flock` by the host.
    lock: PathBuf,
    /// Where the host listens.
    socket: PathBuf,
}

/// Where this process's writes go.
enum State {
    /// This process writes for every process on the file.
    Hosting(Hosting),
    /// Another process hosts: writes go to it over the link once there is
    /// one (none yet, or the last one ended).
    Guest(Option<Arc<Link>>),
    /// No other process can open the file (in memory, or a socket path too
    /// long to bind), or the store is closed: writes stay here.
    Alone,
}

impl Host {
    /// The host of the file `db`: this process, when no other process
    /// hosts yet; `None` for `db` means an in-memory database.
    /// A write sent to it waits twice `busy_timeout` (what a write on the
    /// host may wait for the file's lock) for the answer, so only a host
    /// that stopped running (`SIGSTOP`, a hung disk) makes a write fail
    /// that way; corral's health check replaces such a worker.
    pub(super) fn open(db: Option<&Path>, writer: Arc<Writer>, busy_timeout: Duration) -> Self {
        let paths = db.map(|db| Paths {
            lock: beside(db, "-writer.host"),
            socket: beside(db, "-writer.sock"),
        });
        let state = match &paths {
            Some(paths) if paths.socket.as_os_str().len() <= MAX_SOCKET_PATH => {
                take_over(paths, &writer).unwrap_or(State::Guest(None))
            }
            Some(paths) => {
                tracing::info!(
                    socket = %paths.socket.display(),
                    "each process writes to the SQLite file itself: the writer host's socket path would be longer than {MAX_SOCKET_PATH} bytes"
                );
                State::Alone
            }
            None => State::Alone,
        };
        Self {
            paths,
            writer,
            state: Mutex::new(state),
            answer_timeout: busy_timeout.saturating_mul(2),
        }
    }

    /// Runs `write` on the host's writer (this process's when it is the
    /// host or has none) and returns what it returned once committed.
    pub(super) async fn submit<T: Answer>(&self, write: Write) -> DataResult<T> {
        let written = match self.link() {
            Some(link) => match link.send(&write, self.answer_timeout).await {
                Sent::Answered(outcome) => outcome?,
                // The host left without reading it: it never ran.
                Sent::Unread => write.run_on(&self.writer).await?,
                Sent::Lost(error) => return Err(error),
            },
            None => write.run_on(&self.writer).await?,
        };
        T::from_written(written).ok_or_else(|| {
            DataError::Unavailable("the writer host answered with another kind of result".into())
        })
    }

    /// Whether this process hosts now.
    #[cfg(test)]
    pub(super) fn is_hosting(&self) -> bool {
        matches!(
            *self.state.lock().unwrap_or_else(PoisonError::into_inner),
            State::Hosting(_)
        )
    }

    /// The link to send a write over; `None` when this process writes it.
    /// Without a working link, this process takes over as host when the
    /// lock is free, or connects to the one that holds it.
    fn link(&self) -> Option<Arc<Link>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (State::Guest(slot), Some(paths)) = (&mut *state, &self.paths) else {
            return None;
        };
        if let Some(link) = slot.as_ref().filter(|link| link.is_open()) {
            return Some(Arc::clone(link));
        }
        if let Some(taken) = take_over(paths, &self.writer) {
            *state = taken;
            return None;
        }
        // A host between taking the lock and listening refuses: write here
        // this time, and try again with the next write.
        let link = Link::connect(&paths.socket).ok().map(Arc::new);
        *slot = link.clone();
        link
    }

    /// Stops hosting (answering every write already read, then saying
    /// goodbye) or drops the link; later writes stay in this process.
    pub(super) async fn close(&self) {
        let state = std::mem::replace(
            &mut *self.state.lock().unwrap_or_else(PoisonError::into_inner),
            State::Alone,
        );
        if let State::Hosting(hosting) = state {
            hosting.stop().await;
        }
    }
}

/// Takes the host lock when it is free and starts listening: `None` when
/// another process holds the lock. A process that cannot listen says so
/// once and writes alone from then on, rather than trying again with
/// every write.
fn take_over(paths: &Paths, writer: &Arc<Writer>) -> Option<State> {
    let lock = lock_file(&paths.lock)?;
    match Hosting::start(lock, &paths.socket, Arc::clone(writer), writer.cpus()) {
        Ok(hosting) => Some(State::Hosting(hosting)),
        Err(error) => {
            tracing::warn!(
                socket = %paths.socket.display(),
                error = %error,
                "cannot listen as the SQLite writer host; each process writes to the file itself"
            );
            Some(State::Alone)
        }
    }
}

/// The host lock file, locked, when no other process holds it.
fn lock_file(path: &Path) -> Option<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .ok()?;
    flock(&file, FlockOperation::NonBlockingLockExclusive).ok()?;
    Some(file)
}

/// Writes the frames queued for one socket, whatever has queued meanwhile
/// in one go, until every sender is gone; fails when the socket does.
///
/// It lets every task already woken run first (one pass of the scheduler,
/// no timer): a guest's requests each queue a frame, and woken right after
/// the first, this task wrote them one by one, and each woke the host's
/// thread. Under S4 the host's thread went from 2,300 wake-ups a second and
/// 9% of a core to 500 and 4%.
async fn send_frames(
    mut socket: OwnedWriteHalf,
    mut queued: mpsc::UnboundedReceiver<Vec<u8>>,
) -> io::Result<()> {
    while let Some(mut frames) = queued.recv().await {
        tokio::task::yield_now().await;
        while let Ok(more) = queued.try_recv() {
            frames.extend_from_slice(&more);
        }
        socket.write_all(&frames).await?;
    }
    Ok(())
}
