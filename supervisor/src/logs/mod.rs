//! The log pipeline: workers' stdout and stderr into the app's log files.
//!
//! # How it works
//!
//! ```text
//! worker stdout ─pipe─► capture task ─┐                    ┌─► <app>-out.log   (rotated, gzipped)
//! worker stderr ─pipe─► capture task ─┼─ batches ─► writer ─┤
//!   ... every worker of the app ...  ─┘   (bounded)  thread └─► <app>-error.log
//! ```
//!
//! - **Capture** ([`capture`]) is async, on the supervisor's runtime: each
//!   pipe is read at most every [`capture::GATHER`], all it holds at once,
//!   cut into lines (long ones split at [`MAX_LINE`]), and those lines go
//!   to the app's writer as one batch, stamped with the instant they were
//!   read. It never waits on the writer: the lines queued for an app are bounded ([`QUEUE_BYTES`]), and
//!   a batch that does not fit is dropped and counted, so a worker never
//!   blocks on its pipe because of the disk.
//! - **The writer** ([`writer`]) is one thread per app that owns the app's
//!   two files: it formats each batch ([`format`]: stamped text or JSON
//!   lines) and appends it with one write, through a file that rotates by
//!   size and time, keeps `retain` rotated files and has them gzipped in
//!   the background ([`file`], [`rotation`], [`compress`]). A stalled or
//!   full disk stalls or fails that thread alone: reaping, signals and
//!   rollouts never wait on a disk.
//! - **Dropped lines** are counted per app and stream ([`Dropped`]), logged
//!   at most every [`DROP_REPORT_EVERY`] with why, and kept for status.
//!   Writing resumes by itself when the disk has room again.

mod archive;
mod batch;
mod capture;
mod compress;
mod file;
mod format;
mod own;
mod rotation;
mod tail;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use nix::unistd::Pid;
use tokio::sync::oneshot;
use tokio_util::task::TaskTracker;

pub use capture::{Pipe, split_lines};
pub use compress::Compressor;
pub use file::{RotatingFile, Written};
pub use own::OwnLogFile;
pub use writer::{Chunk, Tail};

use crate::config::{LogFormat, LogsConfig};

/// Lines longer than this are split, so one runaway line cannot grow the
/// supervisor's memory without bound.
pub const MAX_LINE: usize = 16 * 1024;

/// Bytes of lines an app may have waiting for its writer: about a second
/// of a very busy access log. Beyond it lines are dropped, not queued.
pub const QUEUE_BYTES: usize = 16 * 1024 * 1024;

/// How often, at most, dropped lines are reported in the supervisor's log.
pub const DROP_REPORT_EVERY: Duration = Duration::from_secs(10);

/// Which pipe a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The worker's stdout, written to the app's `out` file.
    Out,
    /// The worker's stderr, written to the app's `error` file.
    Err,
}

impl Stream {
    /// The name in JSON lines and in the supervisor's log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Out => "out",
            Self::Err => "err",
        }
    }
}

/// Lines dropped so far, per stream: lines the writer could not keep up
/// with, or could not write (a full disk).
#[derive(Debug, Default)]
pub struct Dropped {
    out: AtomicU64,
    err: AtomicU64,
}

impl Dropped {
    fn counter(&self, stream: Stream) -> &AtomicU64 {
        match stream {
            Stream::Out => &self.out,
            Stream::Err => &self.err,
        }
    }

    /// Counts `lines` more as dropped.
    pub fn add(&self, stream: Stream, lines: u64) {
        self.counter(stream).fetch_add(lines, Ordering::Relaxed);
    }

    /// Dropped lines of `stream` so far.
    pub fn get(&self, stream: Stream) -> u64 {
        self.counter(stream).load(Ordering::Relaxed)
    }
}

/// How an app's lines are written: where, in which format, rotated how.
#[derive(Debug, Clone)]
pub struct LogSetup {
    /// The app's name, in JSON lines.
    pub app: Arc<str>,
    /// The file of each stream.
    pub out: std::path::PathBuf,
    /// The file of stderr.
    pub err: std::path::PathBuf,
    /// Text or JSON lines.
    pub format: LogFormat,
    /// chrono strftime format of text lines' stamp.
    pub date_format: Arc<str>,
    /// Rotation and retention of both files.
    pub rotation: crate::config::Rotation,
}

impl LogSetup {
    /// The setup of an app whose files are `logs` in `log_dir`.
    pub fn new(app: &str, log_dir: &Path, logs: &LogsConfig, date_format: &str) -> Self {
        Self {
            app: app.into(),
            out: log_dir.join(&logs.out),
            err: log_dir.join(&logs.error),
            format: logs.format,
            date_format: date_format.into(),
            rotation: logs.rotation,
        }
    }
}

/// One app's log pipeline: its writer thread and what capture tasks share.
pub struct AppLogs {
    queue: writer::Queue,
    /// Dropped lines, per stream.
    pub dropped: Arc<Dropped>,
}

impl AppLogs {
    /// Starts the app's writer thread; it ends once every capture task of
    /// the app is done and the handle is dropped, after writing what is
    /// queued. `tracker` learns when, so shutdown can wait for the last
    /// lines.
    pub fn start(setup: LogSetup, compressor: Compressor, tracker: &TaskTracker) -> Self {
        let dropped = Arc::new(Dropped::default());
        let queue = writer::start(setup, compressor, dropped.clone(), tracker);
        Self { queue, dropped }
    }

    /// Applies a changed config (a reload) to the files from the next line.
    pub fn reconfigure(&self, setup: LogSetup) {
        self.queue.send(writer::Message::Setup(Box::new(setup)));
    }

    /// Reopens both files by path (SIGUSR1), for an external logrotate.
    pub fn reopen(&self) {
        self.queue.send(writer::Message::Reopen);
    }

    /// Sends `reply` the last `lines` of the chosen files and, with
    /// `follow`, what is written from then on (`corral logs`).
    pub fn tail(
        &self,
        lines: usize,
        (out, err): (bool, bool),
        follow: bool,
        reply: oneshot::Sender<Tail>,
    ) {
        self.queue.send(writer::Message::Tail(writer::TailRequest {
            lines,
            out,
            err,
            follow,
            reply,
        }));
    }

    /// Starts copying a worker's stdout and stderr into the files, tracked
    /// by `tracker` so shutdown can wait for the last lines.
    pub fn capture(
        &self,
        tracker: &TaskTracker,
        instance: usize,
        pid: Pid,
        stdout: Pipe,
        stderr: Pipe,
    ) {
        for (stream, pipe) in [(Stream::Out, stdout), (Stream::Err, stderr)] {
            let source = capture::Source {
                stream,
                instance,
                pid: pid.as_raw(),
            };
            let sink = capture::Sink {
                queue: self.queue.clone(),
                dropped: self.dropped.clone(),
            };
            tracker.spawn(capture::copy(pipe, source, sink));
        }
    }
}

/// Bytes waiting for a writer, shared by the capture tasks that add and
/// the writer that takes: the bound on what one app may queue.
#[derive(Debug, Default)]
struct Budget(AtomicUsize);

impl Budget {
    /// Takes `bytes` if they fit under [`QUEUE_BYTES`].
    fn reserve(&self, bytes: usize) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                (queued + bytes <= QUEUE_BYTES).then_some(queued + bytes)
            })
            .is_ok()
    }

    /// Gives back `bytes` once written (or dropped by the writer).
    fn release(&self, bytes: usize) {
        self.0.fetch_sub(bytes, Ordering::AcqRel);
    }
}
