//! Copying the WAL back into the database file, beside the writer rather
//! than inside its commits.
//!
//! SQLite's own automatic checkpoint runs in the connection that just
//! committed, once the WAL holds 1,000 pages: the writer thread copied the
//! pages back and waited for two `fsync`s while every write queued behind
//! it. Measured under a stream of post creations (bench S4), the writer
//! spent about 40% of its time asleep in those `fsync`s; with the copy
//! moved off it, the app alone went from about 6,200 to 8,200 requests/s
//! and two workers from 5,800 to 6,700. So each process's writer only nudges its checkpointer
//! after a commit; the checkpointer lets commits gather for [`GATHER`], then
//! runs a `PASSIVE` checkpoint on a connection of its own, which copies
//! what no reader still needs while the writer goes on appending.
//!
//! A write starts the WAL over from its beginning once a checkpoint has
//! copied all of it back. Under an unbroken stream of writes a commit
//! lands during most checkpoints, so the WAL grows until it reaches
//! [`WRITER_BACKSTOP_PAGES`]; there the writer checkpoints itself, with
//! little left to copy, and the WAL starts over (about 40 MB at most,
//! where SQLite's own checkpoint kept it near 4 MB). The backstop also
//! bounds the WAL should the checkpointer fall behind or stop.
//!
//! Durability is unchanged: with `synchronous = NORMAL` a commit reaches
//! the WAL without an `fsync`, and the checkpoint syncs the WAL before it
//! copies and the database after, whichever thread runs it.

use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::time::Duration;

use rusqlite::Connection;

use super::cpus::spread_over;
use super::writer::Opener;
use crate::data::{DataError, DataResult};

/// How long the checkpointer lets commits gather after the first one it
/// is told of: under a stream of writes, one checkpoint (and its two
/// `fsync`s) per this interval rather than one per commit; with one
/// write now and then, that write is copied back this long after it.
pub(super) const GATHER: Duration = Duration::from_millis(50);

/// The WAL's size in pages at which the writer checkpoints itself, as
/// `PRAGMA wal_autocheckpoint` takes it: ten times SQLite's default, so
/// that it only happens when the checkpointer has fallen far behind.
pub(super) const WRITER_BACKSTOP_PAGES: i64 = 10_000;

/// The writer's side: tells the checkpointer that a commit landed.
pub(super) struct Nudge {
    /// Room for one pending nudge: more than one says nothing more.
    due: SyncSender<()>,
}

impl Nudge {
    /// Says that the WAL grew; never waits. Once the writer drops its
    /// `Nudge`, the checkpointer runs its last checkpoint and stops.
    pub(super) fn commit_landed(&self) {
        let _ = self.due.try_send(());
    }
}

/// Starts the checkpointer of the file `opener` opens, on a thread that
/// may run on any of `cpus` (none: wherever this thread may).
pub(super) fn start(opener: &Opener, cpus: &[usize]) -> DataResult<Nudge> {
    let conn = opener.open()?;
    let (due, nudges) = sync_channel(1);
    let cpus = cpus.to_vec();
    std::thread::Builder::new()
        .name("sqlite-checkpoint".to_owned())
        .spawn(move || {
            spread_over(&cpus);
            serve(&conn, &nudges, GATHER);
        })
        .map_err(|error| DataError::Unavailable(Box::new(error)))?;
    Ok(Nudge { due })
}

/// Checkpoints after each run of commits, `gather` after the first of
/// them, until the writer is gone (one last checkpoint then).
fn serve(conn: &Connection, nudges: &Receiver<()>, gather: Duration) {
    while nudges.recv().is_ok() {
        std::thread::sleep(gather);
        let gone = loop {
            match nudges.try_recv() {
                Ok(()) => {}
                Err(TryRecvError::Empty) => break false,
                Err(TryRecvError::Disconnected) => break true,
            }
        };
        checkpoint(conn);
        if gone {
            return;
        }
    }
}

/// One `PASSIVE` checkpoint: it copies back what no reader still needs and
/// waits for no one. A failure (a full disk, say) is logged; the next
/// commit brings the next attempt, and the WAL keeps every page meanwhile.
fn checkpoint(conn: &Connection) {
    let outcome = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        row.get::<_, i64>(0)
    });
    if let Err(error) = outcome {
        tracing::warn!(%error, "copying the SQLite WAL back into the database file failed; trying again after the next write");
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Instant;

    use super::*;

    fn opener(dir: &Path) -> Opener {
        Opener {
            filename: dir.join("app.db"),
            in_memory: false,
            busy_timeout: Duration::from_secs(1),
        }
    }

    /// The database file's size: it grows only when pages are copied back.
    fn copied_back(dir: &Path) -> u64 {
        std::fs::metadata(dir.join("app.db")).unwrap().len()
    }

    /// Commits 8 MB, about 2,000 pages: past SQLite's default
    /// checkpoint of 1,000, below the backstop.
    fn commit_8_mb(writer: &Connection) {
        writer
            .execute("INSERT INTO t VALUES (zeroblob(8000000))", [])
            .unwrap();
    }

    fn wait_until(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_writer_leaves_the_copying_back_to_the_checkpointer() {
        let dir = tempfile::tempdir().unwrap();
        let writer = opener(dir.path()).open().unwrap();
        writer.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
        commit_8_mb(&writer);
        let backstop: i64 = writer
            .query_row("PRAGMA wal_autocheckpoint", [], |row| row.get(0))
            .unwrap();
        assert_eq!(backstop, WRITER_BACKSTOP_PAGES);
        let size = copied_back(dir.path());
        assert!(
            size < 1_000_000,
            "the writer copied the WAL back: {size} bytes"
        );
    }

    #[test]
    fn commits_are_copied_back_after_the_gathering_and_once_the_writer_goes() {
        let dir = tempfile::tempdir().unwrap();
        let writer = opener(dir.path()).open().unwrap();
        writer.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
        let nudge = start(&opener(dir.path()), &[]).unwrap();

        commit_8_mb(&writer);
        let nudged = Instant::now();
        nudge.commit_landed();
        wait_until("the commit was never copied back", || {
            copied_back(dir.path()) > 8_000_000
        });
        assert!(nudged.elapsed() >= GATHER);

        commit_8_mb(&writer);
        nudge.commit_landed();
        drop(nudge);
        wait_until("the last commit stayed in the WAL", || {
            copied_back(dir.path()) > 16_000_000
        });
    }
}
