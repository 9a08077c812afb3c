//! A guest's connection to the writer host.
//!
//! Writes go out as they come (a task writes whatever is queued in one
//! go); replies come back in any order and are matched by `seq`. When the
//! connection ends, what happens to each write still waiting is decided by
//! how it ended ([`unanswered`]).

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedReadHalf;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::super::wire::{Frame, Request, line};
use super::super::writes::{Write, Written};
use super::send_frames;
use crate::data::{DataError, DataResult};

/// What became of a write sent to the host.
pub(in crate::data::sqlite) enum Sent {
    /// The host ran it: its transaction committed, or it failed.
    Answered(DataResult<Written>),
    /// The host never read it, so it never ran.
    Unread,
    /// The connection broke while the host had it: it may have committed.
    Lost(DataError),
}

/// How a connection to the host ended.
#[derive(Clone, Copy)]
enum End {
    /// The host said goodbye after answering everything it read.
    Goodbye,
    /// The connection ended before the host's hello: the host never took
    /// it, so it read nothing from it.
    Untaken,
    /// The connection broke after the hello (the host died, or a frame made
    /// no sense).
    Broken,
}

/// What a write still waiting for its answer gets when the link ends.
fn unanswered(end: End) -> Sent {
    match end {
        End::Goodbye | End::Untaken => Sent::Unread,
        End::Broken => Sent::Lost(DataError::Unavailable(
            "the SQLite writer host stopped before answering; the write may or may not have been saved".into(),
        )),
    }
}

/// A connection to the host.
pub(in crate::data::sqlite) struct Link {
    /// Frames for the sending task.
    out: mpsc::UnboundedSender<Vec<u8>>,
    /// The writes waiting for their answers, shared with the reading task.
    waiting: Arc<Mutex<Waiting>>,
    /// The next request's `seq`.
    next: AtomicU64,
    /// The reading task, stopped with the link.
    reader: JoinHandle<()>,
}

/// The writes waiting on one connection.
#[derive(Default)]
struct Waiting {
    /// Where each request's answer goes, by `seq`.
    replies: HashMap<u64, oneshot::Sender<Sent>>,
    /// Set once the connection ended: nothing more is sent on it.
    ended: bool,
}

impl Waiting {
    /// Marks the connection ended and answers every write still waiting.
    fn end(&mut self, end: End) {
        self.ended = true;
        for (_, reply) in self.replies.drain() {
            let _ = reply.send(unanswered(end));
        }
    }
}

impl Link {
    /// Connects to the host listening on `socket` (a Unix socket accepts
    /// or refuses at once, so this does not wait on the host).
    pub(in crate::data::sqlite) fn connect(socket: &Path) -> io::Result<Self> {
        let stream = std::os::unix::net::UnixStream::connect(socket)?;
        stream.set_nonblocking(true)?;
        let (read, write) = UnixStream::from_std(stream)?.into_split();
        let waiting = Arc::new(Mutex::new(Waiting::default()));
        let (out, queued) = mpsc::unbounded_channel();
        // A socket that fails to take a frame decides nothing: the host
        // closed it, and the reading task learns how (a goodbye first, so
        // the frames it never read run here, or a bare end).
        tokio::spawn(send_frames(write, queued));
        let reader = tokio::spawn(read_frames(read, Arc::clone(&waiting)));
        Ok(Self {
            out,
            waiting,
            next: AtomicU64::new(0),
            reader,
        })
    }

    /// Whether writes can still be sent on it.
    pub(in crate::data::sqlite) fn is_open(&self) -> bool {
        !lock(&self.waiting).ended
    }

    /// Sends `write` and waits at most `timeout` for what became of it.
    pub(in crate::data::sqlite) async fn send(&self, write: &Write, timeout: Duration) -> Sent {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let frame = match line(&Request { seq, write }) {
            Ok(frame) => frame,
            Err(error) => return Sent::Answered(Err(DataError::Unavailable(Box::new(error)))),
        };
        let (reply, answer) = oneshot::channel();
        {
            let mut waiting = lock(&self.waiting);
            // A connection that already ended never gets this write.
            if waiting.ended {
                return Sent::Unread;
            }
            waiting.replies.insert(seq, reply);
        }
        // The sending task ends only after the connection ended, which
        // answered every waiting write, this one included.
        let _ = self.out.send(frame);
        match tokio::time::timeout(timeout, answer).await {
            Ok(sent) => sent.unwrap_or_else(|_| unanswered(End::Broken)),
            Err(_) => {
                lock(&self.waiting).replies.remove(&seq);
                Sent::Lost(DataError::Unavailable(
                    format!(
                        "the SQLite writer host did not answer within {timeout:?} (is it stopped?); the write may or may not have been saved"
                    )
                    .into(),
                ))
            }
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Dropping `out` ends the sending task, which closes the socket.
        self.reader.abort();
    }
}

/// Hands each reply to its write, until the host says goodbye or the
/// connection ends; says how it ended.
async fn read_frames(socket: OwnedReadHalf, waiting: Arc<Mutex<Waiting>>) {
    let mut lines = BufReader::new(socket).lines();
    let mut taken = false;
    let end = loop {
        let Ok(Some(line)) = lines.next_line().await else {
            break if taken { End::Broken } else { End::Untaken };
        };
        match serde_json::from_str::<Frame>(&line) {
            Ok(Frame::Hello) => taken = true,
            Ok(Frame::Reply { seq, outcome }) => {
                if let Some(reply) = lock(&waiting).replies.remove(&seq) {
                    let _ = reply.send(Sent::Answered((*outcome).map_err(DataError::from)));
                }
            }
            Ok(Frame::Goodbye) => break End::Goodbye,
            Err(error) => {
                tracing::warn!(%error, "the SQLite writer host sent a frame this process cannot read");
                break End::Broken;
            }
        }
    };
    lock(&waiting).end(end);
}

/// The waiting writes, even after a panic elsewhere left the lock
/// poisoned (every change to them is a single insert or drain).
fn lock(waiting: &Mutex<Waiting>) -> std::sync::MutexGuard<'_, Waiting> {
    waiting.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::super::tests::pose_as_host;
    use super::*;

    #[tokio::test]
    async fn a_write_the_host_never_answers_fails_after_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let (lock, listener, socket) = pose_as_host(&dir).await;
        // A host that takes the connection and reads, then stops running.
        let host = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (read, mut write) = stream.into_split();
            tokio::io::AsyncWriteExt::write_all(&mut write, b"\"Hello\"\n")
                .await
                .unwrap();
            let mut request = String::new();
            BufReader::new(read).read_line(&mut request).await.unwrap();
            (lock, request, write)
        });
        let link = Link::connect(&socket).unwrap();
        let sent = link
            .send(
                &Write::MarkAllRead(Uuid::now_v7()),
                Duration::from_millis(300),
            )
            .await;
        let Sent::Lost(DataError::Unavailable(reason)) = sent else {
            panic!("expected a lost write");
        };
        assert!(
            reason.to_string().contains("did not answer within"),
            "{reason}"
        );
        let (_lock, request, _still_open) = host.await.unwrap();
        assert!(request.contains("MarkAllRead"), "{request}");
        assert!(
            link.is_open(),
            "a late answer may still come for other writes"
        );
    }
}
