//! One supervisor per log folder.
//!
//! Two supervisors started on the same ecosystem would write into the same
//! log files with the same `[0]` prefixes, and an operator could not tell
//! their lines apart. So `corral run` takes an exclusive `flock(2)` on
//! `LOCK_FILE` in `log_dir` before it binds a socket or starts a worker, and
//! holds it for its whole life. The kernel drops the lock when the last fd
//! of its open file description closes, so a supervisor that dies, even by
//! SIGKILL, never leaves a stale lock behind: the file stays, the lock does
//! not. The fd is close-on-exec (every `std::fs::File` is), so neither the
//! workers nor the guard process inherit it and keep the lock alive after
//! the supervisor is gone.
//!
//! The file holds the holder's pid, for the refusal message only; the lock,
//! not the file's content, decides. The file is never removed: unlinking a
//! lock file lets a third process lock a new file of the same name while
//! the second still holds the old one.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// The lock file's name in `log_dir`. A dot file, so that `ls` of the log
/// folder shows only logs.
pub const LOCK_FILE: &str = ".corral.lock";

/// The exclusive right to write in one log folder, held until dropped.
#[derive(Debug)]
pub struct LogDirLock {
    dir: PathBuf,
    file: Flock<File>,
}

/// Why a log folder cannot be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The folder cannot be created, or the lock file cannot be created in it.
    // The OS error is part of the sentence rather than a `source`, so that a
    // chain printer (`{:#}`) does not repeat it.
    #[error("cannot write logs in {}: {error}", dir.display())]
    Unwritable {
        /// The log folder as configured.
        dir: PathBuf,
        /// What the operating system said.
        error: io::Error,
    },
    /// Another process holds the lock.
    #[error(
        "{} is in use by another corral ({}); stop it first, or give this one another log_dir",
        dir.display(),
        pid.map_or_else(|| "pid unknown".to_owned(), |pid| format!("pid {pid}"))
    )]
    InUse {
        /// The log folder as configured.
        dir: PathBuf,
        /// The holder's pid as it wrote it; `None` if it has not (yet).
        pid: Option<u32>,
    },
}

impl LogDirLock {
    /// Creates `dir` if needed and takes its lock without waiting, then
    /// writes this process's pid into the lock file.
    ///
    /// A pid that cannot be written for lack of space is only logged: the
    /// lock holds without it, and a full disk is something the log writer
    /// lives through, not a setup error.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let unwritable = |error| LockError::Unwritable {
            dir: dir.to_owned(),
            error,
        };
        std::fs::create_dir_all(dir).map_err(unwritable)?;
        // No `truncate`: until the lock is ours, the content is the holder's.
        // 0600 whatever the umask: only the supervisor's user has any
        // business opening (and so locking) it.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(dir.join(LOCK_FILE))
            .map_err(unwritable)?;
        let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => locked,
            Err((file, Errno::EWOULDBLOCK)) => {
                return Err(LockError::InUse {
                    dir: dir.to_owned(),
                    pid: holder_pid(&file),
                });
            }
            Err((_, errno)) => return Err(unwritable(errno.into())),
        };
        if let Err(error) = write_pid(&file, std::process::id()) {
            match error.raw_os_error() {
                Some(libc::ENOSPC | libc::EDQUOT) => tracing::warn!(
                    dir = %dir.display(), %error,
                    "log folder locked, but its disk is full: the pid is not in the lock file"
                ),
                _ => return Err(unwritable(error)),
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            file,
        })
    }

    /// The folder this lock guards, as configured.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether `dir` is the folder this lock guards, however it is spelt
    /// (a symlink, `a/../b`): a reload to the same folder must keep the lock,
    /// since taking it a second time would conflict with our own.
    pub fn covers(&self, dir: &Path) -> bool {
        let (Ok(ours), Ok(theirs)) = (self.file.metadata(), dir.join(LOCK_FILE).metadata()) else {
            return false;
        };
        (ours.dev(), ours.ino()) == (theirs.dev(), theirs.ino())
    }
}

/// Replaces the file's content with `pid`. Written over the old content
/// and then cut, so a reader never sees an empty file in between.
fn write_pid(file: &File, pid: u32) -> io::Result<()> {
    let text = format!("{pid}\n");
    file.write_all_at(text.as_bytes(), 0)?;
    file.set_len(text.len() as u64)
}

/// The pid on the first line of the lock file, if there is one.
fn holder_pid(file: &File) -> Option<u32> {
    let mut buf = [0u8; 32];
    let n = file.read_at(&mut buf, 0).ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    text.lines().next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_folder_is_refused_with_the_holders_pid() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("logs");
        let first = LogDirLock::acquire(&dir).expect("first lock");
        // flock locks belong to the open file description: a second `open`
        // in this process conflicts just as another process would.
        match LogDirLock::acquire(&dir) {
            Err(err @ LockError::InUse { pid, .. }) => {
                assert_eq!(pid, Some(std::process::id()));
                assert_eq!(
                    err.to_string(),
                    format!(
                        "{} is in use by another corral (pid {}); stop it first, or give this one another log_dir",
                        dir.display(),
                        std::process::id()
                    )
                );
            }
            other => panic!("expected InUse, got {other:?}"),
        }
        drop(first);
        LogDirLock::acquire(&dir).expect("free again once the holder is gone");
    }

    #[test]
    fn a_stale_file_does_not_block() {
        let tmp = tempfile::tempdir().expect("temp dir");
        std::fs::write(tmp.path().join(LOCK_FILE), "4242424242\nleftover\n").expect("stale file");
        let lock = LogDirLock::acquire(tmp.path()).expect("a file without a lock is free");
        let text = std::fs::read_to_string(tmp.path().join(LOCK_FILE)).expect("lock file");
        assert_eq!(text, format!("{}\n", std::process::id()));
        assert!(lock.covers(tmp.path()));
    }

    #[test]
    fn covers_the_same_folder_under_another_name_only() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("logs");
        let lock = LogDirLock::acquire(&dir).expect("lock");
        let alias = tmp.path().join("alias");
        std::os::unix::fs::symlink(&dir, &alias).expect("symlink");
        assert!(lock.covers(&alias));
        assert!(lock.covers(&tmp.path().join("logs/../logs")));
        assert!(!lock.covers(tmp.path()));
        assert_eq!(lock.dir(), dir);
    }

    #[test]
    fn a_folder_under_a_regular_file_is_unwritable() {
        let tmp = tempfile::tempdir().expect("temp dir");
        std::fs::write(tmp.path().join("file"), "").expect("file");
        let dir = tmp.path().join("file/logs");
        match LogDirLock::acquire(&dir) {
            Err(err @ LockError::Unwritable { .. }) => assert_eq!(
                err.to_string(),
                format!(
                    "cannot write logs in {}: Not a directory (os error 20)",
                    dir.display()
                )
            ),
            other => panic!("expected Unwritable, got {other:?}"),
        }
    }

    #[test]
    fn the_lock_fd_is_close_on_exec() {
        use nix::fcntl::{FcntlArg, FdFlag, fcntl};
        let tmp = tempfile::tempdir().expect("temp dir");
        let lock = LogDirLock::acquire(tmp.path()).expect("lock");
        let flags = fcntl(&*lock.file, FcntlArg::F_GETFD).expect("F_GETFD");
        assert!(FdFlag::from_bits_truncate(flags).contains(FdFlag::FD_CLOEXEC));
    }
}
