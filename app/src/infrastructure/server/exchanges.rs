//! Which requests of one connection are open, from the moment hyper hands
//! a request's head to the service until hyper has taken the last frame of
//! its response body: what tells the head clock (module `head_clock`)
//! that the connection waits for a new request, and that hyper has
//! nothing of its own in flight.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use axum::body::{Bytes, HttpBody};
use hyper::body::{Frame, SizeHint};

/// How many requests of one connection hyper has handed to the service,
/// and how many of their responses it has finished taking.
#[derive(Debug, Default)]
pub(super) struct Exchanges {
    begun: AtomicU64,
    done: AtomicU64,
}

impl Exchanges {
    /// Notes a request handed to the service; call it in the service's
    /// `call`, with the request's head complete.
    pub(super) fn begin(&self) {
        self.begun.fetch_add(1, Ordering::Release);
    }

    /// How many requests were handed to the service so far: a change tells
    /// the head clock that a head it was timing became a request, even
    /// when hyper never read while that request was open (a bodiless
    /// request answered from the bytes already read).
    pub(super) fn begun(&self) -> u64 {
        self.begun.load(Ordering::Acquire)
    }

    /// Whether a request is open: its response is not wholly taken yet.
    pub(super) fn open(&self) -> bool {
        self.done.load(Ordering::Acquire) != self.begun.load(Ordering::Acquire)
    }
}

/// A response body that marks its request finished once hyper drops it,
/// which hyper does after taking its last frame (or giving up on it).
#[derive(Debug)]
pub(super) struct Finishing<B> {
    body: B,
    exchanges: Arc<Exchanges>,
}

impl<B> Finishing<B> {
    /// Wraps the body of the response to the request last begun.
    pub(super) fn new(body: B, exchanges: Arc<Exchanges>) -> Self {
        Self { body, exchanges }
    }
}

impl<B> Drop for Finishing<B> {
    fn drop(&mut self) {
        self.exchanges.done.fetch_add(1, Ordering::Release);
    }
}

impl<B: HttpBody<Data = Bytes> + Unpin> HttpBody for Finishing<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
