//! The supervisor's own log file: what `tracing` writes to stderr, also
//! written to a rotating file in `log_dir` when `[supervisor.logs]` says
//! so, by a thread of its own (the event loop never waits on the disk).

use std::io;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::Instant;

use chrono::Local;
use tracing_subscriber::fmt::MakeWriter;

use super::{Compressor, DROP_REPORT_EVERY, RotatingFile};
use crate::config::Rotation;

/// The sending side of the supervisor's log file: a `MakeWriter` for a
/// `tracing` layer. Each event is sent to the file's thread as one piece.
#[derive(Clone)]
pub struct OwnLogFile {
    tx: Sender<Piece>,
}

/// What the file's thread is sent.
enum Piece {
    /// One formatted event.
    Event(Vec<u8>),
    /// Reopen the file by path (SIGUSR1).
    Reopen,
}

impl OwnLogFile {
    /// Starts the thread that writes `path`; it ends once every clone of
    /// the returned sink is dropped, after writing what it was sent, which
    /// the returned handle tells.
    pub fn start(
        path: PathBuf,
        rotation: Rotation,
        compressor: Compressor,
    ) -> io::Result<(Self, JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel();
        let file = RotatingFile::new(path, rotation, compressor);
        let thread = std::thread::Builder::new()
            .name("logs-corral".into())
            .spawn(move || write_all(file, rx))?;
        Ok((Self { tx }, thread))
    }

    /// Reopens the file by path, after the events sent before (SIGUSR1).
    pub fn reopen(&self) {
        let _ = self.tx.send(Piece::Reopen);
    }
}

/// Writes every event sent until the senders are gone. A failure is said
/// on stderr, not through `tracing`, whose events would come back here.
fn write_all(mut file: RotatingFile, rx: Receiver<Piece>) {
    let mut last_report: Option<Instant> = None;
    let mut dropped = 0usize;
    for piece in rx {
        let event = match piece {
            Piece::Event(event) => event,
            Piece::Reopen => {
                file.reopen();
                continue;
            }
        };
        let lines = event.iter().filter(|&&b| b == b'\n').count();
        let written = file.write(&event, lines, Local::now());
        dropped += written.dropped;
        if let Some(err) = written.error
            && last_report.is_none_or(|at| at.elapsed() >= DROP_REPORT_EVERY)
        {
            eprintln!("corral: cannot write its log file ({dropped} lines dropped so far): {err}");
            last_report = Some(Instant::now());
        }
    }
}

/// One event being formatted; sent to the file's thread when dropped.
pub struct EventBuf {
    buf: Vec<u8>,
    tx: Sender<Piece>,
}

impl io::Write for EventBuf {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EventBuf {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            let _ = self.tx.send(Piece::Event(std::mem::take(&mut self.buf)));
        }
    }
}

impl<'a> MakeWriter<'a> for OwnLogFile {
    type Writer = EventBuf;

    fn make_writer(&'a self) -> Self::Writer {
        EventBuf {
            buf: Vec::with_capacity(256),
            tx: self.tx.clone(),
        }
    }
}
