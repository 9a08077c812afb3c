//! Capture of workers' stdout and stderr into the app's log files.
//!
//! Each worker's two pipes are read by the supervisor, split into lines,
//! prefixed with a timestamp and the instance, and appended to the app's out
//! and error files (instances merged). A line is written with one `write` on
//! an `O_APPEND` file, so lines of concurrent workers never interleave. A
//! write that fails (a full disk) is counted and never blocks the worker:
//! its pipe keeps being drained.

mod archive;
pub mod compress;
pub mod file;
pub mod rotation;

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::task::TaskTracker;

/// Lines longer than this are split, so one runaway line cannot grow the
/// supervisor's memory without bound.
pub const MAX_LINE: usize = 16 * 1024;

/// One append-only log file that can be reopened (after an external
/// logrotate moved it away) without losing a line.
pub struct LogFile {
    path: PathBuf,
    file: Mutex<Option<File>>,
    lost: AtomicU64,
    failing: AtomicBool,
}

impl LogFile {
    /// Opens (creating) `path` for appending. A file that cannot be opened
    /// now is retried on every line rather than failing the app.
    pub fn open(path: PathBuf) -> Self {
        let file = open_append(&path)
            .inspect_err(
                |err| tracing::error!(path = %path.display(), %err, "cannot open log file"),
            )
            .ok();
        Self {
            path,
            file: Mutex::new(file),
            lost: AtomicU64::new(0),
            failing: AtomicBool::new(false),
        }
    }

    /// Appends one already formatted line (ending in `\n`).
    pub fn append(&self, line: &[u8]) {
        let mut file = self.file.lock().expect("log file lock poisoned");
        if file.is_none() {
            *file = open_append(&self.path).ok();
        }
        let result = match file.as_mut() {
            Some(f) => f.write_all(line),
            None => Err(io::Error::other("file is not open")),
        };
        match result {
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(path = %self.path.display(), "log file writable again");
                }
            }
            Err(err) => {
                self.lost.fetch_add(1, Ordering::Relaxed);
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::error!(path = %self.path.display(), %err, "cannot write log file; counting lost lines");
                }
            }
        }
    }

    /// Reopens the file by path (SIGUSR1), for external log rotation.
    pub fn reopen(&self) {
        let mut file = self.file.lock().expect("log file lock poisoned");
        match open_append(&self.path) {
            Ok(f) => *file = Some(f),
            Err(err) => {
                tracing::error!(path = %self.path.display(), %err, "cannot reopen log file")
            }
        }
    }
}

impl Drop for LogFile {
    /// The final count of lost lines, once no worker can write here any more.
    fn drop(&mut self) {
        let lost = *self.lost.get_mut();
        if lost > 0 {
            tracing::warn!(path = %self.path.display(), lost, "log lines could not be written");
        }
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

/// The out and error files of one app and how their lines are stamped.
pub struct AppLogs {
    /// Where workers' stdout goes.
    pub out: Arc<LogFile>,
    /// Where workers' stderr goes.
    pub error: Arc<LogFile>,
    date_format: Arc<str>,
}

impl AppLogs {
    /// Opens the app's files in `log_dir`.
    pub fn open(log_dir: &Path, out: &str, error: &str, date_format: &str) -> Self {
        Self {
            out: Arc::new(LogFile::open(log_dir.join(out))),
            error: Arc::new(LogFile::open(log_dir.join(error))),
            date_format: date_format.into(),
        }
    }

    /// The logs of a changed config. A file whose path did not change is
    /// shared with the workers still running under the old config, so a
    /// later SIGUSR1 reopens it for all of them.
    pub fn reconfigure(&self, log_dir: &Path, out: &str, error: &str, date_format: &str) -> Self {
        let keep = |current: &Arc<LogFile>, path: PathBuf| {
            if current.path == path {
                current.clone()
            } else {
                Arc::new(LogFile::open(path))
            }
        };
        Self {
            out: keep(&self.out, log_dir.join(out)),
            error: keep(&self.error, log_dir.join(error)),
            date_format: date_format.into(),
        }
    }

    /// Reopens both files.
    pub fn reopen(&self) {
        self.out.reopen();
        self.error.reopen();
    }

    /// Starts copying a worker's stdout and stderr into the files, tracked
    /// by `tracker` so shutdown can wait for the last lines.
    pub fn capture(
        &self,
        tracker: &TaskTracker,
        instance: usize,
        stdout: impl AsyncRead + Unpin + Send + 'static,
        stderr: impl AsyncRead + Unpin + Send + 'static,
    ) {
        for (pipe, file) in [
            (Box::new(stdout) as Pipe, &self.out),
            (Box::new(stderr) as Pipe, &self.error),
        ] {
            let stamp = Stamp {
                date_format: self.date_format.clone(),
                instance,
            };
            tracker.spawn(copy_lines(pipe, file.clone(), stamp));
        }
    }
}

type Pipe = Box<dyn AsyncRead + Unpin + Send>;

struct Stamp {
    date_format: Arc<str>,
    instance: usize,
}

impl Stamp {
    fn line(&self, text: &[u8]) -> Vec<u8> {
        let now = chrono::Local::now().format(&self.date_format);
        let mut line = format!("{now} [{}] ", self.instance).into_bytes();
        line.extend_from_slice(text);
        line.push(b'\n');
        line
    }
}

async fn copy_lines(mut pipe: Pipe, file: Arc<LogFile>, stamp: Stamp) {
    let mut pending = Vec::with_capacity(1024);
    let mut chunk = vec![0u8; 8192];
    loop {
        let n = match pipe.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) => {
                tracing::warn!(%err, "cannot read worker output");
                break;
            }
        };
        pending.extend_from_slice(&chunk[..n]);
        let consumed = split_lines(&pending, MAX_LINE, |line| file.append(&stamp.line(line)));
        pending.drain(..consumed);
    }
    if !pending.is_empty() {
        file.append(&stamp.line(&pending));
    }
}

/// Calls `emit` for every complete line in `buf` (without its `\n`), and
/// for every `max`-byte piece of a line longer than `max`; returns how many
/// bytes were consumed.
pub fn split_lines(buf: &[u8], max: usize, mut emit: impl FnMut(&[u8])) -> usize {
    let mut start = 0;
    loop {
        let rest = &buf[start..];
        match rest.iter().take(max + 1).position(|&b| b == b'\n') {
            Some(i) => {
                emit(&rest[..i]);
                start += i + 1;
            }
            None if rest.len() >= max => {
                emit(&rest[..max]);
                start += max;
            }
            None => return start,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn collect(buf: &[u8], max: usize) -> (Vec<Vec<u8>>, usize) {
        let mut lines = Vec::new();
        let used = split_lines(buf, max, |l| lines.push(l.to_vec()));
        (lines, used)
    }

    #[test]
    fn keeps_a_partial_line_for_later() {
        let (lines, used) = collect(b"one\ntwo\nthr", 100);
        assert_eq!(lines, vec![b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(used, 8);
    }

    #[test]
    fn splits_a_line_longer_than_the_limit() {
        let (lines, used) = collect(b"abcdefgh\n", 3);
        assert_eq!(
            lines,
            vec![b"abc".to_vec(), b"def".to_vec(), b"gh".to_vec()]
        );
        assert_eq!(used, 9);
    }

    proptest! {
        /// Nothing is lost or duplicated: the emitted pieces plus the kept
        /// remainder rebuild the input, newlines aside.
        #[test]
        fn no_byte_lost_or_duplicated(buf in proptest::collection::vec(any::<u8>(), 0..400), max in 1usize..50) {
            let (lines, used) = collect(&buf, max);
            let rebuilt: Vec<u8> = lines.concat();
            let expected: Vec<u8> = buf[..used].iter().copied().filter(|&b| b != b'\n').collect();
            prop_assert_eq!(rebuilt, expected);
            prop_assert!(lines.iter().all(|l| l.len() <= max));
        }
    }
}
