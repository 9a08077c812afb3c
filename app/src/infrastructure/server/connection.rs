//! One connection: hyper's HTTP/1.1 with keep-alive until the client
//! closes it, until it sends no complete request head for
//! `APP_HEADER_READ_TIMEOUT` or, once the drain has begun, until it has
//! been idle for [`IDLE_GRACE`].
//!
//! The wait for each request head is bounded at the socket (module
//! `head_clock`: an idle connection is closed, a head that started and
//! stalls is answered 408) and each request's body is paced (module
//! `body_pace`: too slow a body is answered 408); hyper's own
//! `header_read_timeout`, which cannot answer, is off.
//!
//! During the drain a connection ends in one of three ways, none of which
//! fails a request:
//! - a request arrives (or is in flight): its response carries
//!   `Connection: close`, added by [`Draining::close_after`], and hyper
//!   closes the connection once it is written;
//! - it stays idle (no request in progress, no byte received) for the
//!   grace: hyper's `graceful_shutdown` then closes it, which hyper does at
//!   once only for a connection with nothing in progress, and otherwise
//!   after answering with `Connection: close`;
//! - the drain bound passes, and the runtime's end cuts it.
//!
//! The grace is counted from the drain's start or the connection's last
//! activity, whichever is later, so a client always has that long after
//! the signal to use a connection it holds, including one accepted but not
//! yet read.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::body_pace::PacedBody;
use super::draining::{Activity, Draining};
use super::exchanges::{Exchanges, Finishing};
use super::head_clock::HeadClock;
use super::watched::Watched;
use crate::infrastructure::settings::ReadTimeouts;

/// How long a connection must stay idle during the drain before it is
/// closed. A client that reuses a keep-alive connection just as the
/// server closes it sees a failed request; 500 ms covers a client's gap
/// between two requests under load, as the Express peer's drain does.
pub const IDLE_GRACE: Duration = Duration::from_millis(500);

/// Serves one connection until the client closes it, or the drain closes
/// it as the module doc says. `drain_began` fires after `draining` is set.
pub(super) async fn serve(
    stream: TcpStream,
    router: Router,
    timeouts: ReadTimeouts,
    draining: &'static Draining,
    drain_began: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let fd = stream.as_raw_fd();
    let activity = Arc::new(Activity::default());
    let exchanges = Arc::new(Exchanges::default());
    let watched = Watched::new(stream, draining, Arc::clone(&activity));
    let io = TokioIo::new(HeadClock::new(
        watched,
        Arc::clone(&exchanges),
        timeouts.header,
    ));
    let finished = Arc::clone(&exchanges);
    let service = tower::util::MapResponse::new(router, move |response: Response| {
        let finished = Arc::clone(&finished);
        draining
            .close_after(response)
            .map(|body| Finishing::new(body, finished))
    });
    let service = tower::util::MapRequest::new(service, move |request: Request<Incoming>| {
        exchanges.begin();
        request.map(|body| PacedBody::new(body, timeouts.body))
    });
    // No timer: hyper's only use of one here would be its own head
    // timeout, which is off.
    let conn = http1::Builder::new()
        .keep_alive(true)
        .header_read_timeout(None)
        .serve_connection(io, TowerToHyperService::new(service));
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = drain_began.cancelled() => tokio::select! {
            // Hyper first, so bytes already reported are read before the
            // idle check looks at the clock.
            biased;
            result = conn.as_mut() => result,
            () = idle_for_grace(&activity, draining, fd) => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        },
    };
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended with an error");
    }
}

/// Resolves once the connection has moved no byte for [`IDLE_GRACE`],
/// counted from now (the drain's start) at the earliest, and its socket
/// holds no byte hyper has yet to read. Nothing awaits between this
/// resolving and the caller's `graceful_shutdown`, so no byte can reach
/// hyper in between.
async fn idle_for_grace(activity: &Activity, draining: &Draining, fd: RawFd) {
    let began = Instant::now();
    loop {
        let since = activity
            .last(draining)
            .map_or(began, |last| last.max(began));
        let due = since + IDLE_GRACE;
        if Instant::now() < due {
            tokio::time::sleep_until(due).await;
        } else if has_unread_bytes(fd) {
            // The runtime has not told hyper yet; it will read them soon.
            activity.touch(draining);
        } else {
            return;
        }
    }
}

/// Whether the kernel holds bytes received on `fd` that nobody has read:
/// the last word before closing, since the runtime's readiness may lag.
fn has_unread_bytes(fd: RawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: `fd` is the socket of the connection the caller is serving,
    // owned by its hyper connection, which is alive (and so the fd open)
    // for the whole call; recv(2) writes at most one byte into `byte`;
    // MSG_PEEK leaves the data for hyper and MSG_DONTWAIT never blocks.
    let received = unsafe {
        libc::recv(
            fd,
            (&raw mut byte).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    received > 0
}
