//! Taking turns at the write lock across the processes that share a file.
//!
//! SQLite's own lock is polled: a connection that finds it taken sleeps
//! (1, 2, 5, ... up to 100 ms) and tries again until `busy_timeout`, so a
//! writer often sleeps long after the lock came free. Each process's
//! writer instead holds an advisory `flock` on a file beside the database
//! for the length of a batch; the other waits for it in the kernel and
//! wakes the moment it is released. `busy_timeout` stays as the safety net
//! for writers that do not take turns (the `sqlite3` shell, a backup).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{FlockOperation, flock};

/// The lock file of one database, opened once per process.
pub(super) struct Turns {
    /// `None` for an in-memory database, which no other process can open.
    file: Option<Arc<File>>,
}

/// One turn at writing: the advisory lock, released when dropped.
pub(super) struct Turn {
    /// The locked file, when the lock was taken.
    file: Option<Arc<File>>,
    /// Whether another process held the lock when this turn was asked for.
    waited: bool,
}

/// The lock file of the database `db`: `db` with `-writer.lock` appended.
/// It is never deleted: removing a lock file others may hold open would
/// let two processes each lock a different file.
pub(super) fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-writer.lock");
    PathBuf::from(name)
}

impl Turns {
    /// Opens (creating when missing) the lock file beside `db`.
    pub(super) fn beside(db: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock_path(db))?;
        Ok(Self {
            file: Some(Arc::new(file)),
        })
    }

    /// No turns to take: for a database only this process can see.
    pub(super) fn alone() -> Self {
        Self { file: None }
    }

    /// Waits for this process's turn. The wait blocks a thread of the
    /// blocking pool, not the runtime, and only when the lock is taken.
    /// A lock that cannot be taken at all (a file system without `flock`)
    /// is logged and done without: SQLite's own lock still keeps writes
    /// apart, only less promptly.
    pub(super) async fn take(&self) -> Turn {
        let Some(file) = &self.file else {
            return Turn {
                file: None,
                waited: false,
            };
        };
        let (taken, waited) = match flock(&**file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => (Ok(()), false),
            Err(rustix::io::Errno::WOULDBLOCK) => {
                let file = Arc::clone(file);
                let taken = tokio::task::spawn_blocking(move || wait_for_lock(&file))
                    .await
                    .unwrap_or_else(|join| Err(io::Error::other(join)));
                (taken, true)
            }
            Err(error) => (Err(error.into()), false),
        };
        turn(file, taken, waited)
    }
}

/// The turn `taken` gave, or none when the lock could not be taken: that
/// is logged and done without, as SQLite's own lock still keeps writes
/// apart, only less promptly.
fn turn(file: &Arc<File>, taken: io::Result<()>, waited: bool) -> Turn {
    match taken {
        Ok(()) => Turn {
            file: Some(Arc::clone(file)),
            waited,
        },
        Err(error) => {
            tracing::warn!(%error, "cannot lock the SQLite writer lock file; relying on busy_timeout");
            Turn {
                file: None,
                waited: false,
            }
        }
    }
}

impl Turns {
    /// Waits for this process's turn on the calling thread: the writer's
    /// own thread, which has nothing else to do meanwhile. A lock that
    /// cannot be taken is handled as in [`Self::take`].
    pub(super) fn take_blocking(&self) -> Turn {
        let Some(file) = &self.file else {
            return Turn {
                file: None,
                waited: false,
            };
        };
        let (taken, waited) = match flock(&**file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => (Ok(()), false),
            Err(rustix::io::Errno::WOULDBLOCK) => (wait_for_lock(file), true),
            Err(error) => (Err(error.into()), false),
        };
        turn(file, taken, waited)
    }
}

impl Turn {
    /// Whether another process was writing when this turn was asked for:
    /// it is then likely waiting again by the time this turn ends.
    pub(super) fn waited(&self) -> bool {
        self.waited
    }
}

/// Blocks until the exclusive lock on `file` is ours.
fn wait_for_lock(file: &File) -> io::Result<()> {
    loop {
        match flock(file, FlockOperation::LockExclusive) {
            Err(rustix::io::Errno::INTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(file) = &self.file {
            // Closing the file would release it too, but the file stays
            // open for the next turn. Unlocking cannot fail on a lock held.
            let _ = flock(&**file, FlockOperation::Unlock);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_lock_file_sits_beside_the_database() {
        assert_eq!(
            lock_path(Path::new("data/app.db")),
            Path::new("data/app.db-writer.lock")
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_second_holder_waits_until_the_first_turn_ends() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        // Two opens of the file stand for two processes: flock locks
        // belong to the open file, so they exclude each other the same way.
        let (first, second) = (Turns::beside(&db).unwrap(), Turns::beside(&db).unwrap());
        let turn = first.take().await;
        let waiting = tokio::spawn(async move {
            let _turn = second.take().await;
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "the second took a turn already held"
        );
        drop(turn);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the second gets its turn once the first ends")
            .unwrap();
    }

    #[test]
    fn a_turn_knows_whether_the_other_process_held_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        let (first, second) = (Turns::beside(&db).unwrap(), Turns::beside(&db).unwrap());
        let free = first.take_blocking();
        assert!(!free.waited(), "nobody held the lock");
        let waiting = std::thread::spawn(move || second.take_blocking().waited());
        std::thread::sleep(Duration::from_millis(50));
        drop(free);
        assert!(waiting.join().unwrap(), "the first held the lock");
    }
}
