//! A connection's socket as hyper sees it, noting when bytes move.
//!
//! Hyper keeps a connection's state to itself, and its `graceful_shutdown`
//! treats a connection whose request head has only partly arrived as idle
//! (it closes it unanswered). Watching the bytes at the socket is what lets
//! the drain tell a connection that is truly idle from one that is
//! receiving a request. Every call goes straight through; while not
//! draining the only extra work is one atomic load per read or write.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::draining::{Activity, Draining};

/// `io`, recording in `activity` every read or write that moves bytes
/// once the drain has begun.
#[derive(Debug)]
pub(super) struct Watched<T> {
    io: T,
    draining: &'static Draining,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    /// Wraps `io`.
    pub(super) fn new(io: T, draining: &'static Draining, activity: Arc<Activity>) -> Self {
        Self {
            io,
            draining,
            activity,
        }
    }

    /// Notes activity if `moved` bytes moved.
    #[inline]
    fn moved(&self, moved: bool) {
        if moved {
            self.activity.note(self.draining);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        this.moved(buf.filled().len() > before);
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.moved(matches!(polled, Poll::Ready(Ok(n)) if n > 0));
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.moved(matches!(polled, Poll::Ready(Ok(n)) if n > 0));
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
