//! Reading one worker pipe: chunks cut into lines, sent to the app's
//! writer as batches, never waiting for it.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::writer::{Batch, Message, Queue};
use super::{Dropped, MAX_LINE, Stream};

/// A worker's stdout or stderr.
pub(super) type Pipe = Box<dyn AsyncRead + Unpin + Send>;

/// How much one read takes: a pipe holds 64 KiB, so a worker that wrote a
/// burst is drained in one or two reads.
const CHUNK: usize = 64 * 1024;

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
        let n = match pipe.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) => {
                tracing::warn!(%err, stream = source.stream.as_str(), pid = source.pid, "cannot read worker output");
                break;
            }
        };
        pending.extend_from_slice(&chunk[..n]);
        let mut batch = Batch::new(source);
        let consumed = split_lines(&pending, MAX_LINE, |line| batch.push(line));
        pending.drain(..consumed);
        send(&sink, batch);
    }
    if !pending.is_empty() {
        let mut batch = Batch::new(source);
        batch.push(&pending);
        send(&sink, batch);
    }
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
