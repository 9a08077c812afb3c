//! The request body's deadline: a body must arrive within
//! `APP_BODY_READ_TIMEOUT` of the end of its head, plus one second for
//! every [`BODY_MIN_RATE`] bytes received.
//!
//! A bound on the time between two reads (tower-http's `TimeoutBody`)
//! never catches a client that trickles one byte every few seconds, and a
//! bound on the whole body would cut a large upload on a slow link. Time
//! earned by progress catches the trickle after about the base bound and
//! lets any client faster than the minimum rate finish, as Apache's
//! `mod_reqtimeout` (`body=...,MinRate=...`) does.
//!
//! The clock is looked at only while the body waits for the client: bytes
//! already received are handed over however late the handler asks, and a
//! body that arrives with its head (most do) never starts a timer. When
//! the deadline passes the body fails with [`BodyTimedOut`], which the
//! JSON extractor answers with 408 and `Connection: close`.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::BoxError;
use axum::body::{Bytes, HttpBody};
use hyper::body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// The slowest pace a body may keep once its base bound has passed:
/// every this many bytes received earn one more second.
pub const BODY_MIN_RATE: u64 = 1024;

/// When a body that began at `start` and has `received` bytes so far must
/// have made more progress, with `base` of its own.
fn due(start: Instant, base: Duration, received: u64) -> Instant {
    let earned = Duration::from_millis(received.saturating_mul(1000) / BODY_MIN_RATE);
    start
        + base
            .saturating_add(earned)
            .min(Duration::from_secs(u32::MAX.into()))
}

/// A request body that fails with [`BodyTimedOut`] once its deadline
/// passes while it waits for the client.
#[derive(Debug)]
pub(super) struct PacedBody<B> {
    inner: B,
    start: Instant,
    base: Duration,
    received: u64,
    /// Made the first time the body waits for the client.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<B> PacedBody<B> {
    /// Paces `inner`, whose head just ended, with `base` as its bound.
    pub(super) fn new(inner: B, base: Duration) -> Self {
        Self {
            inner,
            start: Instant::now(),
            base,
            received: 0,
            timer: None,
        }
    }
}

impl<B> HttpBody for PacedBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            if let Some(Ok(data)) = frame.as_ref().map(|f| f.as_ref().map(Frame::data_ref)) {
                this.received += data.map_or(0, |d| d.len() as u64);
            }
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let due = due(this.start, this.base, this.received);
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        if timer.deadline() != due {
            timer.as_mut().reset(due);
        }
        ready!(timer.as_mut().poll(cx));
        let timed_out = BodyTimedOut {
            after: this.start.elapsed(),
            received: this.received,
        };
        tracing::info!(%timed_out, "a request body arrived too slowly; failing it");
        Poll::Ready(Some(Err(Box::new(timed_out))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Why a request body failed: the client sent it too slowly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the request body arrived too slowly: {received} bytes in {after:?}, \
     beyond APP_BODY_READ_TIMEOUT and its allowance of a second per KiB"
)]
pub struct BodyTimedOut {
    /// How long after its head the body was given up.
    pub after: Duration,
    /// How many bytes of it had arrived.
    pub received: u64,
}

impl BodyTimedOut {
    /// Whether `error`, or any error it was caused by, is a body timeout:
    /// how a body extractor tells a slow client (408) from a broken body.
    pub fn caused(error: &(dyn std::error::Error + 'static)) -> bool {
        std::iter::successors(Some(error), |e| e.source()).any(|e| e.is::<Self>())
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn each_kib_earns_a_second() {
        let start = Instant::now();
        let base = Duration::from_secs(10);
        assert_eq!(due(start, base, 0), start + base);
        assert_eq!(
            due(start, base, 1023),
            start + Duration::from_millis(10_999)
        );
        assert_eq!(due(start, base, 1024), start + Duration::from_secs(11));
        assert_eq!(
            due(start, base, 1024 * 1024),
            start + Duration::from_secs(1034)
        );
        // A trickle of a byte every 2 s earns about nothing.
        assert!(due(start, base, 5) < start + Duration::from_millis(10_005));
        // Absurd counts neither overflow nor panic.
        assert!(due(start, base, u64::MAX) > start + base);
    }

    proptest! {
        #[test]
        fn the_deadline_never_moves_earlier_as_bytes_arrive(
            base_ms in 1u64..3_600_000,
            received in 0u64..1 << 40,
            more in 0u64..1 << 20,
        ) {
            let start = Instant::now();
            let base = Duration::from_millis(base_ms);
            let before = due(start, base, received);
            prop_assert!(before >= start + base);
            prop_assert!(due(start, base, received + more) >= before);
        }
    }

    /// A client that sends one byte and then nothing.
    struct Stalled {
        sent: bool,
    }

    impl HttpBody for Stalled {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if std::mem::replace(&mut self.sent, true) {
                Poll::Pending
            } else {
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"{")))))
            }
        }
    }

    #[tokio::test]
    async fn a_stalled_body_fails_at_its_bound_and_a_ready_one_never() {
        let stalled = Stalled { sent: false };
        let base = Duration::from_millis(300);
        let started = Instant::now();
        let mut paced = PacedBody::new(stalled, base);
        let first = paced.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "{");
        let error = paced.frame().await.unwrap().unwrap_err();
        let timed_out = error.downcast_ref::<BodyTimedOut>().unwrap();
        assert_eq!(timed_out.received, 1);
        let waited = started.elapsed();
        assert!(base <= waited && waited < base * 5, "{waited:?}");
        assert!(BodyTimedOut::caused(&*error));

        let ready = http_body_util::Full::new(Bytes::from_static(b"{}"));
        let mut paced = PacedBody::new(ready, base);
        tokio::time::sleep(base * 2).await;
        let body = paced.frame().await.unwrap().unwrap();
        assert_eq!(body.into_data().unwrap(), "{}");
    }
}
