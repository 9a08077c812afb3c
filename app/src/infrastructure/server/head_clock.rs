//! The request head's deadline, kept at the socket: hyper's own
//! `header_read_timeout` closes the connection without an answer, and
//! counts a head from when hyper starts waiting for it, so an idle
//! keep-alive connection and a head that trickles in look the same to it.
//!
//! Between two requests (a request is open from the moment hyper hands its
//! head to the service until hyper has taken the last frame of its
//! response body) the connection waits for a head, for at most
//! `APP_HEADER_READ_TIMEOUT`:
//! - counted from when the wait began while no byte of a head has come:
//!   the connection is then closed unanswered, since no request exists to
//!   answer (an idle connection may be closed at any time, RFC 9112 §9.6);
//! - counted from the first byte of the head once one has come: then the
//!   client is sent a 408 problem with `Connection: close`, and the
//!   connection is closed.
//!
//! The 408 is written straight to the socket, which is safe only while
//! hyper has nothing of its own in flight there: no request open, and
//! every byte hyper wrote flushed (hyper flushes the socket only once its
//! own buffer is empty, so a flush after the last write proves it). If
//! not, the connection is closed unanswered.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::exchanges::Exchanges;

/// Where the connection stands, as its reads see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A request is open: its body, if any, is the body pace's business.
    Busy,
    /// Waiting for a head since `since`; `head` is when its first byte came.
    Waiting {
        since: Instant,
        head: Option<Instant>,
    },
}

/// What to do when the wait for a head has lasted its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Nothing of a request came: close as a client would, with EOF.
    Close,
    /// A head is incomplete: answer 408, then close.
    Answer408,
    /// A head is incomplete, but hyper may still have bytes in flight: an
    /// answer could interleave with them, so close unanswered.
    CloseUnanswered,
}

/// The phase a read finds, from the phase the last read left, whether a
/// request is open, and whether any request began since the last read
/// (hyper can take a head, answer it and come back for the next one
/// without a read in between, so "open" alone can miss a request). The
/// clock is read only when a new wait starts: this runs on every read.
fn phase_now(last: Phase, open: bool, begun_since: bool, now: impl FnOnce() -> Instant) -> Phase {
    if open {
        Phase::Busy
    } else if last == Phase::Busy || begun_since {
        Phase::Waiting {
            since: now(),
            head: None,
        }
    } else {
        last
    }
}

/// When the wait of `phase` ends, for heads bounded by `bound`.
fn due(phase: Phase, bound: Duration) -> Option<Instant> {
    match phase {
        Phase::Busy => None,
        Phase::Waiting { since, head } => Some(head.unwrap_or(since) + bound),
    }
}

/// How a wait that reached its bound ends, given whether a head began
/// and whether every byte hyper wrote has been flushed.
fn ending(head_began: bool, flushed: bool) -> Ending {
    match (head_began, flushed) {
        (false, _) => Ending::Close,
        (true, true) => Ending::Answer408,
        (true, false) => Ending::CloseUnanswered,
    }
}

/// The connection's socket, bounding the wait for each request head.
#[derive(Debug)]
pub(super) struct HeadClock<T> {
    io: T,
    exchanges: Arc<Exchanges>,
    bound: Duration,
    phase: Phase,
    /// How many requests had begun at the last read.
    begun: u64,
    /// Made the first time a wait has to sleep.
    timer: Option<Pin<Box<Sleep>>>,
    /// No write since the last successful flush.
    flushed: bool,
}

impl<T> HeadClock<T> {
    /// Wraps the socket of a connection just accepted: the wait for its
    /// first head begins now.
    pub(super) fn new(io: T, exchanges: Arc<Exchanges>, bound: Duration) -> Self {
        let begun = exchanges.begun();
        Self {
            io,
            exchanges,
            bound,
            phase: Phase::Waiting {
                since: Instant::now(),
                head: None,
            },
            begun,
            timer: None,
            flushed: true,
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> HeadClock<T> {
    /// Whether the wait has reached its bound; registers for a wake-up at
    /// the bound when not.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(due) = due(self.phase, self.bound) else {
            return false;
        };
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        if timer.deadline() != due {
            timer.as_mut().reset(due);
        }
        timer.as_mut().poll(cx).is_ready()
    }

    /// Writes the 408 as far as the socket takes it at once: its buffer is
    /// empty (everything was flushed), so all of it normally goes.
    fn answer_408(&mut self, cx: &mut Context<'_>) {
        let response = request_timeout_response();
        let mut io = Pin::new(&mut self.io);
        if let Poll::Ready(Ok(written)) = io.as_mut().poll_write(cx, &response)
            && written == response.len()
        {
            let _ = io.poll_flush(cx);
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for HeadClock<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let begun = this.exchanges.begun();
        let open = this.exchanges.open();
        this.phase = phase_now(this.phase, open, begun != this.begun, Instant::now);
        this.begun = begun;
        if open {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let before = buf.filled().len();
        if let Poll::Ready(read) = Pin::new(&mut this.io).poll_read(cx, buf) {
            if let Phase::Waiting {
                head: head @ None, ..
            } = &mut this.phase
                && buf.filled().len() > before
            {
                *head = Some(Instant::now());
            }
            return Poll::Ready(read);
        }
        if !this.expired(cx) {
            return Poll::Pending;
        }
        let head_began = matches!(this.phase, Phase::Waiting { head: Some(_), .. });
        match ending(head_began, this.flushed) {
            Ending::Close => Poll::Ready(Ok(())),
            ending => {
                if ending == Ending::Answer408 {
                    this.answer_408(cx);
                }
                tracing::info!(
                    bound = ?this.bound,
                    answered = ending == Ending::Answer408,
                    "a request head arrived too slowly; closing its connection"
                );
                let error = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the request head arrived too slowly (APP_HEADER_READ_TIMEOUT)",
                );
                Poll::Ready(Err(error))
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for HeadClock<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        this.flushed = false;
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        this.flushed = false;
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.io).poll_flush(cx))?;
        this.flushed = true;
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The 408 for a head that came too slowly, whole: a problem document
/// like every other error of the API, and `Connection: close`.
fn request_timeout_response() -> Vec<u8> {
    let problem = serde_json::json!({
        "type": "about:blank",
        "title": "Request Timeout",
        "status": 408,
        "detail": "The request head arrived too slowly; send it again at a steadier pace.",
    })
    .to_string();
    let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT");
    format!(
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\n\
         connection: close\r\ncontent-length: {}\r\ndate: {date}\r\n\r\n{problem}",
        problem.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests;
