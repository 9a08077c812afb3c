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
use std::path::Path;
use std::sync::Arc;

use rustix::fs::{FlockOperation, fcntl_lock, flock};

/// The lock file of one database, opened once per process.
pub(super) struct Turns {
    /// `None` for an in-memory database, which no other process can open.
    file: Option<Arc<File>>,
}

/// One turn at writing: the advisory lock, released when dropped.
pub(super) struct Turn {
    /// The locked file, when the lock was taken.
    file: Option<Arc<File>>,
}

impl Turns {
    /// Opens (creating when missing) the lock file beside `db`,
    /// `<db>-writer.lock`. It is never deleted: removing a lock file others
    /// may hold open would let two processes each lock a different file.
    pub(super) fn beside(db: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            // Readable too: the shared `fcntl` lock a waiter holds needs it.
            .read(true)
            .write(true)
            .open(super::beside(db, "-writer.lock"))?;
        Ok(Self {
            file: Some(Arc::new(file)),
        })
    }

    /// No turns to take: for a database only this process can see.
    pub(super) fn alone() -> Self {
        Self { file: None }
    }

    /// Waits for this process's turn as [`Self::take_blocking`] does, on a
    /// thread of the blocking pool rather than the runtime's.
    pub(super) async fn take(self: &Arc<Self>) -> Turn {
        let turns = Arc::clone(self);
        tokio::task::spawn_blocking(move || turns.take_blocking())
            .await
            .unwrap_or(Turn { file: None })
    }

    /// Waits for this process's turn on the calling thread (the writer's
    /// own thread, which has nothing else to do meanwhile). A lock that
    /// cannot be taken at all (a file system without `flock`) is logged and
    /// done without: SQLite's own lock still keeps writes apart, only less
    /// promptly.
    pub(super) fn take_blocking(&self) -> Turn {
        let Some(file) = &self.file else {
            return Turn { file: None };
        };
        let taken = match flock(&**file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::WOULDBLOCK) => wait_for_lock(file),
            Err(error) => Err(error.into()),
        };
        turn(file, taken)
    }

    /// Called right after a turn ended: when a writer of another process
    /// waits for its turn, waits until that writer has it.
    ///
    /// `flock` wakes a waiter but does not hand it the lock, so a writer
    /// that ends its turn and has more to write takes the lock back long
    /// before the other process's writer is scheduled, and can keep it for
    /// as long as requests keep coming (S4's p99 went to a second). Waiters
    /// therefore hold a shared `fcntl` lock on the same file (a lock of
    /// another kind, independent of the `flock`) until their turn starts;
    /// an exclusive `fcntl` lock is granted only once none does.
    pub(super) fn let_waiter_go(&self) {
        let Some(file) = &self.file else {
            return;
        };
        let granted = match fcntl_lock(&**file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::ACCESS) => {
                fcntl_lock(&**file, FlockOperation::LockExclusive)
            }
            Err(error) => Err(error),
        };
        if granted.is_ok() {
            let _ = fcntl_lock(&**file, FlockOperation::Unlock);
        }
    }

    /// Whether a writer of another process is waiting for its turn now
    /// (see [`Self::let_waiter_go`]).
    #[cfg(test)]
    fn other_waiting(&self) -> bool {
        let Some(file) = &self.file else {
            return false;
        };
        match fcntl_lock(&**file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {
                let _ = fcntl_lock(&**file, FlockOperation::Unlock);
                false
            }
            Err(_) => true,
        }
    }
}

/// The turn `taken` gave, or none when the lock could not be taken: that
/// is logged and done without, as SQLite's own lock still keeps writes
/// apart, only less promptly.
fn turn(file: &Arc<File>, taken: io::Result<()>) -> Turn {
    match taken {
        Ok(()) => Turn {
            file: Some(Arc::clone(file)),
        },
        Err(error) => {
            tracing::warn!(%error, "cannot lock the SQLite writer lock file; relying on busy_timeout");
            Turn { file: None }
        }
    }
}

/// Blocks until the exclusive lock on `file` is ours, saying meanwhile
/// that this process waits (see [`Turns::let_waiter_go`]). Should that
/// not be possible, the wait goes on without saying so.
fn wait_for_lock(file: &File) -> io::Result<()> {
    let said = fcntl_lock(file, FlockOperation::LockShared).is_ok();
    let taken = loop {
        match flock(file, FlockOperation::LockExclusive) {
            Err(rustix::io::Errno::INTR) => continue,
            other => break other.map_err(io::Error::from),
        }
    };
    if said {
        let _ = fcntl_lock(file, FlockOperation::Unlock);
    }
    taken
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_second_holder_waits_until_the_first_turn_ends() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        // Two opens of the file stand for two processes: flock locks
        // belong to the open file, so they exclude each other the same way.
        let (first, second) = (
            Arc::new(Turns::beside(&db).unwrap()),
            Arc::new(Turns::beside(&db).unwrap()),
        );
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
    fn a_writer_sees_when_the_other_process_waits_for_its_turn() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        let first = Turns::beside(&db).unwrap();
        let turn = first.take_blocking();
        assert!(!first.other_waiting(), "nobody waits yet");
        // `fcntl` locks belong to the process, so the waiter must be
        // another process: a child that waits for its turn, as its writer
        // would, then exits at once. Between fork and exit it makes only
        // system calls.
        let second = Turns::beside(&db).unwrap();
        let file = second.file.clone().unwrap();
        // SAFETY: the child runs no code that could need a lock another
        // thread held at the fork: two system calls, then `_exit`.
        let child = unsafe { libc::fork() };
        assert!(child >= 0, "fork failed");
        if child == 0 {
            let code = i32::from(wait_for_lock(&file).is_err());
            // SAFETY: ends the child without running the parent's exit
            // handlers.
            unsafe { libc::_exit(code) };
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !first.other_waiting() {
            assert!(
                std::time::Instant::now() < deadline,
                "the waiter never showed"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(turn);
        // Returns once the child had its turn (it exits right after).
        first.let_waiter_go();
        let mut status = 0;
        // SAFETY: waits for the child forked above.
        assert_eq!(unsafe { libc::waitpid(child, &raw mut status, 0) }, child);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        assert!(!first.other_waiting(), "the waiter had its turn and left");
    }
}
