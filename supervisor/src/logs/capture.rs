//! Reading one worker pipe: what it holds is cut into lines and sent to
//! the app's writer as one batch, never waiting for the writer.
//!
//! A pipe is read at most once per [`GATHER`]: a worker that writes one
//! line per `write` (an access log at 10,000 requests a second) then costs
//! one wake-up and one batch per interval instead of one per line, which
//! is most of what carrying a line costs. For that, a pipe is watched by
//! the event loop (epoll) only while it is empty: a registered pipe would
//! wake the loop at every `write` of the worker, even while its task
//! sleeps. Lines are stamped when read, so at most that much later than
//! written. A pipe holds [`PIPE_BYTES`] (256 KiB), 25 MB/s within the
//! interval; beyond that the worker's `write` waits for the next read,
//! never longer than the interval.

use std::io::{self, ErrorKind};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::writer::{Batch, Message, Queue};
use super::{Dropped, MAX_LINE, Stream};

/// The read end of a worker's stdout or stderr pipe.
pub struct Pipe(OwnedFd);

impl Pipe {
    /// Takes the read end `fd`, made non-blocking, its buffer grown to
    /// [`PIPE_BYTES`] where the system allows.
    pub fn new(fd: OwnedFd) -> io::Result<Self> {
        let flags = OFlag::from_bits_truncate(fcntl(&fd, FcntlArg::F_GETFL)?);
        fcntl(&fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
        // Best effort: an unprivileged user past its pipe quota keeps 64 KiB.
        let _ = fcntl(&fd, FcntlArg::F_SETPIPE_SZ(PIPE_BYTES));
        Ok(Self(fd))
    }

    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        nix::unistd::read(self.0.as_fd(), buf).map_err(io::Error::from)
    }

    /// Waits until the pipe has something to read (or is closed), watched
    /// by the event loop for that time only.
    async fn readable(self) -> io::Result<Self> {
        // SAFETY: the `OwnedFd` is open and owned here; it stays open, and
        // `as_raw_fd` gives the same number, until `into_inner` hands it
        // back below (or the `AsyncFd` is dropped with it).
        let watched = unsafe { AsyncFd::register_with_interest(self.0, Interest::READABLE) }
            .map_err(|err| err.into_parts().1)?;
        let ready = watched.readable().await.map(drop);
        let pipe = Self(watched.into_inner());
        ready.map(|()| pipe)
    }
}

/// How much one read takes.
const CHUNK: usize = 64 * 1024;

/// What a pipe may hold between two reads: at one read per [`GATHER`], a
/// worker may write 25 MB/s before its `write` waits. Kernel memory, so
/// not more.
const PIPE_BYTES: i32 = 256 * 1024;

/// How long lines gather in a pipe between two reads.
pub const GATHER: Duration = Duration::from_millis(10);

/// The most one batch holds, so a worker that never pauses still sends
/// its lines in pieces the writer can bound.
const BATCH_BYTES: usize = 1024 * 1024;

/// Where a pipe's lines come from.
#[derive(Debug, Clone, Copy)]
pub(super) struct Source {
    pub stream: Stream,
    pub instance: usize,
    pub pid: i32,
}

/// Where they go.
pub(super) struct Sink {
    pub queue: Queue,
    pub dropped: Arc<Dropped>,
}

/// Copies the pipe's lines to the writer until the worker closes it; a
/// last line without a newline is kept too.
pub(super) async fn copy(mut pipe: Pipe, source: Source, sink: Sink) {
    let mut pending = Vec::with_capacity(CHUNK);
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let before = pending.len();
        let open = drain(&pipe, &mut chunk, &mut pending, source);
        let read = pending.len() > before;
        let mut batch = Batch::with_capacity(source, pending.len());
        let consumed = split_lines(&pending, MAX_LINE, |line| batch.push(line));
        pending.drain(..consumed);
        // What a burst grew is given back; a partial line stays.
        pending.shrink_to(CHUNK);
        send(&sink, batch);
        if !open {
            break;
        }
        if read {
            tokio::time::sleep(GATHER).await;
        } else {
            match pipe.readable().await {
                Ok(readable) => pipe = readable,
                Err(err) => {
                    tracing::warn!(%err, stream = %source.stream.as_str(), pid = source.pid, "cannot watch worker output");
                    break;
                }
            }
        }
    }
    if !pending.is_empty() {
        let mut batch = Batch::new(source);
        batch.push(&pending);
        send(&sink, batch);
    }
}

/// Reads what the pipe holds into `pending`, up to [`BATCH_BYTES`],
/// without waiting; returns whether the pipe is still open.
fn drain(pipe: &Pipe, chunk: &mut [u8], pending: &mut Vec<u8>, source: Source) -> bool {
    while pending.len() < BATCH_BYTES {
        match pipe.try_read(chunk) {
            Ok(0) => return false,
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == ErrorKind::WouldBlock => break,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => {
                tracing::warn!(%err, stream = %source.stream.as_str(), pid = source.pid, "cannot read worker output");
                return false;
            }
        }
    }
    true
}

/// Queues `batch`, or counts its lines as dropped if the app already has
/// as much waiting as it may.
fn send(sink: &Sink, batch: Batch) {
    if batch.is_empty() {
        return;
    }
    let (stream, lines, bytes) = (batch.source.stream, batch.len(), batch.bytes());
    if sink.queue.budget.reserve(bytes) {
        sink.queue.send(Message::Lines(batch));
    } else {
        sink.dropped.add(stream, lines as u64);
    }
}

/// Calls `emit` for every complete line in `buf` (without its `\n`), and
/// for every `max`-byte piece of a line longer than `max`; returns how many
/// bytes were consumed.
pub fn split_lines(buf: &[u8], max: usize, mut emit: impl FnMut(&[u8])) -> usize {
    let mut start = 0;
    loop {
        let rest = &buf[start..];
        let window = &rest[..rest.len().min(max + 1)];
        match memchr(window) {
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

/// The first `\n` in `bytes`.
fn memchr(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
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
