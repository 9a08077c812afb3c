//! The writer thread of one app: it owns the app's two files, formats the
//! batches capture tasks send it and writes each with one call, and says
//! when lines had to be dropped.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Instant;

use chrono::{DateTime, Local};
use tokio::sync::{broadcast, oneshot};
use tokio_util::task::TaskTracker;

pub(super) use super::batch::Batch;
use super::{Budget, Compressor, DROP_REPORT_EVERY, Dropped, LogSetup, RotatingFile, Stream};

/// What a writer thread is asked to do.
pub(super) enum Message {
    /// Write these lines.
    Lines(Batch),
    /// Use this setup from now on (a reload).
    Setup(Box<LogSetup>),
    /// Reopen both files by path (SIGUSR1).
    Reopen,
    /// The last lines of the files, and the lines written from then on.
    Tail(TailRequest),
}

/// What `corral logs` asks of an app's writer.
pub(super) struct TailRequest {
    pub lines: usize,
    pub out: bool,
    pub err: bool,
    pub follow: bool,
    pub reply: oneshot::Sender<Tail>,
}

/// Lines an app's writer wrote, as `corral logs --follow` receives them.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// Which file they went to.
    pub stream: Stream,
    /// The lines, formatted as in the file.
    pub bytes: Arc<[u8]>,
}

/// The end of an app's files and, when following, what comes next: taken
/// between two writes, so no line is missed or seen twice.
pub struct Tail {
    /// The last lines of each file asked for.
    pub history: Vec<(Stream, Vec<u8>)>,
    /// The lines written from then on.
    pub live: Option<broadcast::Receiver<Chunk>>,
}

/// Written chunks a `--follow` may fall behind by before it skips some.
const FOLLOW_BACKLOG: usize = 1024;

/// The sending side of a writer thread.
#[derive(Clone)]
pub(super) struct Queue {
    tx: Sender<Message>,
    /// Bytes of lines waiting, bounded by [`super::QUEUE_BYTES`].
    pub budget: Arc<Budget>,
}

impl Queue {
    pub fn send(&self, message: Message) {
        // The thread is gone only if it could not be started (said then).
        let _ = self.tx.send(message);
    }
}

/// Starts the app's writer thread; `tracker` is told when it has written
/// everything and ended.
pub(super) fn start(
    setup: LogSetup,
    compressor: Compressor,
    dropped: Arc<Dropped>,
    tracker: &TaskTracker,
) -> Queue {
    let (tx, rx) = mpsc::channel();
    let budget = Arc::new(Budget::default());
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    tracker.spawn(async move {
        let _ = done_rx.await;
    });
    let name = format!("logs-{}", setup.app);
    let writer = Writer::new(setup, compressor, dropped, budget.clone());
    let spawned = std::thread::Builder::new().name(name).spawn(move || {
        writer.run(rx);
        let _ = done_tx.send(());
    });
    if let Err(err) = spawned {
        tracing::error!(%err, "cannot start a log writer thread; this app's output is dropped");
    }
    Queue { tx, budget }
}

/// What is reported of one stream's dropped lines.
#[derive(Default)]
struct Reporting {
    reported: u64,
    last: Option<Instant>,
    /// The last write error since the last report.
    error: Option<String>,
}

/// The capacity a stream's write buffer keeps between writes.
const KEEP_BUFFER: usize = 64 * 1024;

/// Formatted lines of one stream waiting to be written together.
#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    lines: usize,
    /// Their weight against the queue budget, given back once written.
    bytes: usize,
    /// When the newest of them was read.
    at: Option<DateTime<Local>>,
}

struct Writer {
    setup: LogSetup,
    compressor: Compressor,
    out: RotatingFile,
    err: RotatingFile,
    dropped: Arc<Dropped>,
    budget: Arc<Budget>,
    reporting: [Reporting; 2],
    /// What is formatted and not written yet, per stream.
    pending: [Pending; 2],
    /// Where written lines go for `corral logs --follow`.
    live: broadcast::Sender<Chunk>,
}

impl Writer {
    fn new(
        setup: LogSetup,
        compressor: Compressor,
        dropped: Arc<Dropped>,
        budget: Arc<Budget>,
    ) -> Self {
        Self {
            out: RotatingFile::new(setup.out.clone(), setup.rotation, compressor.clone()),
            err: RotatingFile::new(setup.err.clone(), setup.rotation, compressor.clone()),
            setup,
            compressor,
            dropped,
            budget,
            reporting: Default::default(),
            pending: Default::default(),
            live: broadcast::channel(FOLLOW_BACKLOG).0,
        }
    }

    /// Serves messages until every sender is gone, then reports what was
    /// dropped one last time. Whatever is waiting when the thread wakes up
    /// is written together: one write per file, not one per batch.
    fn run(mut self, rx: Receiver<Message>) {
        loop {
            match rx.recv_timeout(DROP_REPORT_EVERY) {
                Ok(message) => {
                    self.handle(message);
                    while let Ok(message) = rx.try_recv() {
                        self.handle(message);
                    }
                    self.flush();
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.report(false);
        }
        self.report(true);
    }

    fn handle(&mut self, message: Message) {
        match message {
            Message::Lines(batch) => self.format(batch),
            Message::Setup(setup) => {
                self.flush();
                self.apply(*setup);
            }
            Message::Reopen => {
                self.flush();
                self.out.reopen();
                self.err.reopen();
            }
            Message::Tail(request) => {
                self.flush();
                let mut history = Vec::new();
                for (stream, wanted, path) in [
                    (Stream::Out, request.out, &self.setup.out),
                    (Stream::Err, request.err, &self.setup.err),
                ] {
                    if wanted {
                        history.push((stream, super::tail::last_lines(path, request.lines)));
                    }
                }
                let live = request.follow.then(|| self.live.subscribe());
                let _ = request.reply.send(Tail { history, live });
            }
        }
    }

    fn format(&mut self, batch: Batch) {
        let at = DateTime::<Local>::from(batch.at);
        let pending = &mut self.pending[batch.source.stream as usize];
        super::format::append(&mut pending.buf, &self.setup, &batch, at);
        pending.lines += batch.len();
        pending.bytes += batch.bytes();
        pending.at = Some(at);
    }

    /// Writes what is pending, each stream with one call.
    fn flush(&mut self) {
        for stream in [Stream::Out, Stream::Err] {
            let pending = &mut self.pending[stream as usize];
            let Some(at) = pending.at.take() else {
                continue;
            };
            let file = match stream {
                Stream::Out => &mut self.out,
                Stream::Err => &mut self.err,
            };
            let written = file.write(&pending.buf, pending.lines, at);
            self.budget.release(pending.bytes);
            if self.live.receiver_count() > 0 {
                let _ = self.live.send(Chunk {
                    stream,
                    bytes: Arc::from(&pending.buf[..]),
                });
            }
            pending.buf.clear();
            // A burst grows the buffer to a whole batch or more; keep only
            // what ordinary traffic needs, so the supervisor's memory goes
            // back down after it.
            pending.buf.shrink_to(KEEP_BUFFER);
            pending.lines = 0;
            pending.bytes = 0;
            if written.dropped > 0 {
                self.dropped.add(stream, written.dropped as u64);
            }
            if let Some(error) = written.error {
                self.reporting[stream as usize].error = Some(error.to_string());
            }
        }
    }

    /// A reload's setup: a file whose path or rotation changed is reopened
    /// with it; format and stamp apply from the next line.
    fn apply(&mut self, setup: LogSetup) {
        if setup.out != self.setup.out || setup.rotation != self.setup.rotation {
            self.out =
                RotatingFile::new(setup.out.clone(), setup.rotation, self.compressor.clone());
        }
        if setup.err != self.setup.err || setup.rotation != self.setup.rotation {
            self.err =
                RotatingFile::new(setup.err.clone(), setup.rotation, self.compressor.clone());
        }
        self.setup = setup;
    }

    /// Logs lines dropped since the last report: at once the first time,
    /// then at most every [`DROP_REPORT_EVERY`], and at the end.
    fn report(&mut self, last: bool) {
        for stream in [Stream::Out, Stream::Err] {
            let total = self.dropped.get(stream);
            let state = &mut self.reporting[stream as usize];
            let due = state
                .last
                .is_none_or(|at| at.elapsed() >= DROP_REPORT_EVERY);
            if total == state.reported || !(due || last) {
                continue;
            }
            let reason = state.error.take().unwrap_or_else(|| {
                "the disk could not keep up (too many lines waiting)".to_owned()
            });
            tracing::warn!(
                app = %self.setup.app,
                stream = %stream.as_str(),
                dropped = total - state.reported,
                total,
                %reason,
                "log lines dropped"
            );
            state.reported = total;
            state.last = Some(Instant::now());
        }
    }
}
