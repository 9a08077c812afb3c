//! The host's side: it listens beside the file and runs what guests send
//! on its own writer.
//!
//! Guests are served on a thread of their own, not on the runtime that
//! serves this process's requests: a guest's write crosses the host twice
//! (its frame in, its answer out), and on a busy worker, above all one
//! pinned to a CPU, each crossing waited behind the host's own requests.
//! Measured under a stream of post creations (bench S4, two pinned
//! workers), the guest's requests took 12.0 ms on average against the
//! host's 9.3 ms.

use std::fs::{File, Permissions};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::super::cpus::spread_over;
use super::super::wire::{Frame, Request, WireError, line};
use super::super::writer::Writer;
use super::super::writes::Write;
use super::send_frames;

/// How long the host waits after a failed `accept` before the next.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// This process as the host: the lock that makes it so, and its listener's
/// tasks.
pub(in crate::data::sqlite) struct Hosting {
    /// Held (locked) for as long as this process hosts.
    lock: File,
    /// Where it listens, removed when it stops.
    socket: PathBuf,
    /// Tells the listener and every connection to stop reading.
    stop: CancellationToken,
    /// The listener's and the connections' tasks.
    tasks: TaskTracker,
}

impl Hosting {
    /// Listens on `socket` (replacing what a host that died left there:
    /// whoever holds `lock` owns the path) and serves guests on `writer`,
    /// from a thread that may run on any of `cpus` (none: wherever this
    /// thread may).
    pub(in crate::data::sqlite) fn start(
        lock: File,
        socket: &Path,
        writer: Arc<Writer>,
        cpus: &[usize],
    ) -> io::Result<Self> {
        match std::fs::remove_file(socket) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let listener = {
            let _in_runtime = runtime.enter();
            UnixListener::bind(socket)?
        };
        // Only processes of the same user write the file anyway.
        std::fs::set_permissions(socket, Permissions::from_mode(0o600))?;
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let serving = accept(listener, writer, stop.clone(), tasks.clone());
        let cpus = cpus.to_vec();
        let serve_tasks = tasks.clone();
        std::thread::Builder::new()
            .name("sqlite-host".to_owned())
            .spawn(move || {
                spread_over(&cpus);
                runtime.block_on(serve_tasks.track_future(serving));
                // The guests' tasks end once they answered what they read.
                runtime.block_on(serve_tasks.wait());
            })?;
        tracing::info!(
            socket = %socket.display(),
            "this process writes to the SQLite file for every process sharing it (the writer host)"
        );
        Ok(Self {
            lock,
            socket: socket.to_owned(),
            stop,
            tasks,
        })
    }

    /// Stops taking writes: no new guest connects, every write already
    /// read is answered, each guest is told goodbye; then the lock goes.
    pub(in crate::data::sqlite) async fn stop(self) {
        let _ = std::fs::remove_file(&self.socket);
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        drop(self.lock);
    }
}

/// Takes guests until told to stop.
async fn accept(
    listener: UnixListener,
    writer: Arc<Writer>,
    stop: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        let stream = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, say: guests write for
                    // themselves meanwhile; try again shortly, not in a
                    // busy loop.
                    tracing::warn!(%error, "the SQLite writer host could not accept a guest");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
        };
        tasks.spawn(guest(stream, Arc::clone(&writer), stop.clone()));
    }
}

/// Runs one guest's writes, each as soon as it is read, until the guest
/// hangs up or the host stops; then answers what it read and says goodbye.
async fn guest(stream: UnixStream, writer: Arc<Writer>, stop: CancellationToken) {
    let (read, write) = stream.into_split();
    let (out, queued) = mpsc::unbounded_channel();
    let _ = out.send(frame(&Frame::Hello));
    let sending = tokio::spawn(send_frames(write, queued));
    let running = TaskTracker::new();
    let mut lines = BufReader::new(read).lines();
    loop {
        // `next_line` is cancel-safe: a line half read when the host stops
        // was never run, and the goodbye tells the guest so.
        let line = tokio::select! {
            () = stop.cancelled() => break,
            line = lines.next_line() => line,
        };
        let Ok(Some(line)) = line else { break };
        match serde_json::from_str::<Request<Write>>(&line) {
            Ok(request) => {
                running.spawn(run(request, Arc::clone(&writer), out.clone()));
            }
            Err(error) => {
                tracing::warn!(%error, "a process sent the SQLite writer host a frame it cannot read");
                break;
            }
        }
    }
    running.close();
    running.wait().await;
    let _ = out.send(frame(&Frame::Goodbye));
    drop(out);
    let _ = sending.await;
}

/// Runs one guest's write on the host's writer and queues the answer.
async fn run(request: Request<Write>, writer: Arc<Writer>, out: mpsc::UnboundedSender<Vec<u8>>) {
    let Request { seq, write } = request;
    let outcome = Box::new(write.run_on(&writer).await.map_err(WireError::from));
    let _ = out.send(frame(&Frame::Reply { seq, outcome }));
}

/// `frame` as one line (a frame of the host's always serialises).
fn frame(frame: &Frame) -> Vec<u8> {
    line(frame).unwrap_or_default()
}
