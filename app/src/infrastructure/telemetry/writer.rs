//! Stdout through a buffer and a thread of its own, so no request ever
//! waits on a `write(2)` to the supervisor's pipe.
//!
//! A line is appended to a shared buffer under a mutex held only for the
//! copy (or the formatting) of that line. A dedicated thread swaps the
//! buffer out and writes everything it holds in one `write`, then lets
//! lines gather for [`BATCH_PERIOD`] before the next swap: under load that
//! is one wake-up and one big write per period instead of one per line,
//! and when idle the thread sleeps until a line arrives. The buffer is
//! bounded: a line that finds it full (the pipe is not drained, say) is
//! dropped and counted, and the count is reported in a line of its own once
//! there is room, so a request never blocks on logging. [`LineWriter::close`]
//! writes what is left before the process exits; lines written after it go
//! straight to stdout.

use std::io::Write as _;
use std::sync::mpsc;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// How long lines gather between two writes while lines keep coming: the
/// most a line waits in the worker (the supervisor batches its reads on a
/// similar period).
pub const BATCH_PERIOD: Duration = Duration::from_millis(10);

/// The most bytes the buffer holds: 1 MiB is about 4,000 access lines, a
/// fifth of a second at 20,000 lines/s, well beyond a normal batch.
pub const CAPACITY: usize = 1 << 20;

/// How long [`LineWriter::close`] waits for the last write, in case the
/// pipe's reader is gone or stuck.
const CLOSE_BOUND: Duration = Duration::from_secs(2);

/// The buffer shared by the writers and the thread.
#[derive(Debug, Default)]
struct State {
    /// Lines waiting for the thread, each ending in `\n`.
    lines: Vec<u8>,
    /// Lines dropped because the buffer was full, not reported yet.
    dropped: u64,
    /// The thread is asleep until a line arrives (not between batches).
    idle: bool,
    /// [`LineWriter::close`] was called: the thread writes what is left
    /// and ends; later lines go straight to stdout.
    closed: bool,
}

/// A non-blocking, batching line writer to stdout, shared process-wide.
#[derive(Debug)]
pub struct LineWriter {
    state: Mutex<State>,
    wake: Condvar,
    /// Disconnected once the thread has ended.
    done: Mutex<Option<mpsc::Receiver<()>>>,
}

impl LineWriter {
    /// Starts the writer thread. The writer lives as long as the process
    /// (it is leaked): every layer that logs holds a plain reference.
    pub fn start() -> std::io::Result<&'static Self> {
        let (finished, done) = mpsc::channel::<()>();
        let writer: &'static Self = Box::leak(Box::new(Self {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            done: Mutex::new(Some(done)),
        }));
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || {
                writer.run(&mut std::io::stdout());
                drop(finished);
            })?;
        Ok(writer)
    }

    /// Appends one line made by `format` (which must end it with `\n`),
    /// unless the buffer is full, in which case the line is dropped and
    /// counted. Never waits for I/O.
    pub fn push_with(&self, format: impl FnOnce(&mut Vec<u8>)) {
        let mut state = self.lock();
        if state.closed {
            drop(state);
            let mut line = Vec::with_capacity(256);
            format(&mut line);
            let _ = std::io::stdout().lock().write_all(&line);
            return;
        }
        if state.lines.len() >= CAPACITY {
            state.dropped += 1;
            return;
        }
        let first = state.lines.is_empty();
        format(&mut state.lines);
        let wake = first && state.idle;
        drop(state);
        if wake {
            self.wake.notify_one();
        }
    }

    /// Appends `line` as it is (see [`Self::push_with`]).
    pub fn push(&self, line: &[u8]) {
        self.push_with(|buffer| buffer.extend_from_slice(line));
    }

    /// Writes what the buffer holds and stops the thread, waiting at most
    /// [`CLOSE_BOUND`]. Lines written after this go straight to stdout.
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_one();
        let done = self.done.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(done) = done {
            let _ = done.recv_timeout(CLOSE_BOUND);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The thread: waits for lines, writes them in batches, ends once
    /// closed and empty.
    fn run(&self, out: &mut impl std::io::Write) {
        let mut batch = Vec::new();
        loop {
            let (dropped, closed) = {
                let mut state = self.lock();
                while state.lines.is_empty() && state.dropped == 0 && !state.closed {
                    state.idle = true;
                    state = self.wake.wait(state).unwrap_or_else(|e| e.into_inner());
                }
                state.idle = false;
                std::mem::swap(&mut state.lines, &mut batch);
                (std::mem::take(&mut state.dropped), state.closed)
            };
            if dropped > 0 {
                batch.extend_from_slice(&dropped_line(dropped));
            }
            // A failed write (the supervisor is gone) loses this batch;
            // there is nobody left to tell.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
            if closed && self.lock().lines.is_empty() {
                return;
            }
            let state = self.lock();
            let _ = self
                .wake
                .wait_timeout_while(state, BATCH_PERIOD, |s| !s.closed)
                .map_err(|e| e.into_inner());
        }
    }
}

/// The line that reports `dropped` lost lines, in the JSON form (it is
/// rare enough that the text format's readers can read it too).
fn dropped_line(dropped: u64) -> Vec<u8> {
    let mut line = b"{\"timestamp\":\"".to_vec();
    super::access::write_timestamp(&mut line, std::time::SystemTime::now());
    line.extend_from_slice(
        format!("\",\"level\":\"WARN\",\"message\":\"the log writer fell behind; lines were dropped\",\"dropped\":{dropped},\"target\":\"app::telemetry\"}}\n")
            .as_bytes(),
    );
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex as StdMutex};

    /// What the thread wrote, shared with the test.
    #[derive(Clone, Default)]
    struct Sink(Arc<StdMutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn writer_into(sink: &Sink) -> &'static LineWriter {
        let (finished, done) = mpsc::channel::<()>();
        let writer: &'static LineWriter = Box::leak(Box::new(LineWriter {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            done: Mutex::new(Some(done)),
        }));
        let mut out = sink.clone();
        std::thread::spawn(move || {
            writer.run(&mut out);
            drop(finished);
        });
        writer
    }

    #[test]
    fn lines_arrive_whole_and_in_order_and_close_flushes_them() {
        let sink = Sink::default();
        let writer = writer_into(&sink);
        for i in 0..10_000 {
            writer.push_with(|b| b.extend_from_slice(format!("line {i}\n").as_bytes()));
        }
        writer.close();
        let written = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = written.lines().collect();
        assert_eq!(lines.len(), 10_000);
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(*line, format!("line {i}"));
        }
    }

    #[test]
    fn a_full_buffer_drops_and_counts_instead_of_blocking() {
        let writer: &'static LineWriter = Box::leak(Box::new(LineWriter {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            done: Mutex::new(None),
        }));
        let line = vec![b'x'; 1023];
        for _ in 0..(CAPACITY / 1024 + 10) {
            writer.push_with(|b| {
                b.extend_from_slice(&line);
                b.push(b'\n');
            });
        }
        // Nobody drains it (no thread): the pushes above returned anyway.
        assert_eq!(writer.lock().dropped, 10);
        let sink = Sink::default();
        writer.lock().closed = true;
        writer.run(&mut sink.clone());
        let written = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(written.lines().count(), CAPACITY / 1024 + 1);
        let last: serde_json::Value =
            serde_json::from_str(written.lines().last().unwrap()).unwrap();
        assert_eq!(last["dropped"], 10, "the drop is reported");
    }
}
