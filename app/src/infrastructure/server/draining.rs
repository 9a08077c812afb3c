//! Whether the server is draining, as every request and connection sees it.
//!
//! This is read on the hot path (once per response, once per socket read
//! or write), so it is one atomic load through a plain `&'static`: no lock
//! (a `CancellationToken` locks a mutex to answer `is_cancelled`), and no
//! reference count touched per request.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::http::HeaderValue;
use axum::http::header::CONNECTION;
use axum::response::Response;
use tokio::time::Instant;

/// The server-wide drain flag, and the clock connections stamp their
/// activity with once it is set.
#[derive(Debug)]
pub(super) struct Draining {
    on: AtomicBool,
    epoch: Instant,
}

impl Draining {
    /// A new flag, not set, leaked so that connections and requests hold a
    /// plain reference. One is made per server, and a process runs one
    /// server for its whole life, so the leak is a few bytes once.
    pub(super) fn leak() -> &'static Self {
        Box::leak(Box::new(Self {
            on: AtomicBool::new(false),
            epoch: Instant::now(),
        }))
    }

    /// Sets the flag: from now on responses carry `Connection: close` and
    /// connections record their activity.
    pub(super) fn begin(&self) {
        self.on.store(true, Ordering::Release);
    }

    /// Whether the drain has begun.
    #[inline]
    pub(super) fn is_on(&self) -> bool {
        self.on.load(Ordering::Acquire)
    }

    /// Adds `Connection: close` to `response` once the drain has begun:
    /// hyper then closes the connection after writing it, and the client
    /// sends its next request on a new connection, which another worker
    /// accepts.
    #[inline]
    pub(super) fn close_after(&self, mut response: Response) -> Response {
        if self.is_on() {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// When one connection last moved bytes, recorded only during the drain
/// (before it, nothing reads it, so the hot path does not pay for a clock).
#[derive(Debug, Default)]
pub(super) struct Activity {
    /// Nanoseconds after [`Draining`]'s epoch, plus one; 0 for never.
    stamp: AtomicU64,
}

impl Activity {
    /// Records bytes moved now, if the drain has begun.
    #[inline]
    pub(super) fn note(&self, draining: &Draining) {
        if draining.is_on() {
            self.touch(draining);
        }
    }

    /// Records activity now.
    pub(super) fn touch(&self, draining: &Draining) {
        let nanos = u64::try_from(draining.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        self.stamp.store(nanos + 1, Ordering::Relaxed);
    }

    /// When bytes last moved during the drain, if they did.
    pub(super) fn last(&self, draining: &Draining) -> Option<Instant> {
        match self.stamp.load(Ordering::Relaxed) {
            0 => None,
            stamp => Some(draining.epoch + std::time::Duration::from_nanos(stamp - 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_carry_connection_close_only_once_the_drain_began() {
        let draining = Draining::leak();
        let before = draining.close_after(Response::default());
        assert_eq!(before.headers().get(CONNECTION), None);
        draining.begin();
        let after = draining.close_after(Response::default());
        assert_eq!(after.headers().get(CONNECTION).unwrap(), "close");
    }

    #[test]
    fn activity_is_recorded_only_once_the_drain_began() {
        let draining = Draining::leak();
        let activity = Activity::default();
        activity.note(draining);
        assert_eq!(activity.last(draining), None);
        draining.begin();
        let before = Instant::now();
        activity.note(draining);
        let last = activity.last(draining).unwrap();
        assert!(before <= last && last <= Instant::now());
    }
}
