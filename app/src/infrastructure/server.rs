//! Serving routers on sockets, and the graceful drain.
//!
//! Each socket has one accept task; each connection one task, served by
//! hyper's HTTP/1.1 connection with keep-alive. Accept tasks and
//! connection tasks each have a [`TaskTracker`] and a [`CancellationToken`],
//! so the drain can close every socket before touching any connection.
//!
//! Draining (on SIGTERM or SIGINT) goes in this order:
//! 1. the accept tasks return and drop their sockets at once, so this
//!    worker takes nothing more from the kernel queue it shares with the
//!    other workers, who serve what is waiting there;
//! 2. every connection gets hyper's `graceful_shutdown`: an idle keep-alive
//!    connection is closed at once, and a connection with a request in
//!    flight has keep-alive disabled, so hyper answers that request with
//!    `Connection: close` and then closes it;
//! 3. the drain waits for the connection tasks, for at most its bound;
//!    whatever is left after it is cut when the runtime stops.

use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Accept errors such as running out of fds are retried after this pause,
/// so a full fd table does not turn the accept loop into a busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The running server: its sockets accept until [`Server::drain`].
pub struct Server {
    accepting: TaskTracker,
    connections: TaskTracker,
    stop_accepting: CancellationToken,
    close_connections: CancellationToken,
}

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// Every connection finished within the bound.
    Complete,
    /// The bound passed with this many connections still open; they are
    /// cut when the runtime stops.
    TimedOut {
        /// Connections still open.
        open: usize,
    },
}

impl Server {
    /// Starts accepting on every socket, each answered by its router.
    /// Connections are queued by the kernel from the moment a socket
    /// listens, so the worker may report ready as soon as this returns.
    pub fn start(endpoints: impl IntoIterator<Item = (TcpListener, Router)>) -> Self {
        let server = Self {
            accepting: TaskTracker::new(),
            connections: TaskTracker::new(),
            stop_accepting: CancellationToken::new(),
            close_connections: CancellationToken::new(),
        };
        for (socket, router) in endpoints {
            server.accepting.spawn(accept(
                socket,
                router,
                server.stop_accepting.clone(),
                server.close_connections.clone(),
                server.connections.clone(),
            ));
        }
        server.accepting.close();
        server
    }

    /// Stops accepting, lets in-flight requests finish with
    /// `Connection: close`, closes idle connections, and waits for that at
    /// most `bound`. Every socket is closed before any connection is told
    /// to finish, so a client that sees its idle connection closed can
    /// count on its next connection reaching another worker.
    pub async fn drain(self, bound: Duration) -> Drain {
        self.stop_accepting.cancel();
        self.accepting.wait().await;
        self.connections.close();
        self.close_connections.cancel();
        match tokio::time::timeout(bound, self.connections.wait()).await {
            Ok(()) => Drain::Complete,
            Err(_) => Drain::TimedOut {
                open: self.connections.len(),
            },
        }
    }
}

/// Accepts until told to stop, then drops (closes) the socket.
async fn accept(
    socket: TcpListener,
    router: Router,
    stop: CancellationToken,
    close: CancellationToken,
    connections: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            accepted = socket.accept() => accepted,
        };
        match accepted {
            Ok((stream, _peer)) => {
                connections.spawn(connection(stream, router.clone(), close.clone()));
            }
            Err(error) => {
                tracing::warn!(%error, "accept failed; retrying");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Serves one connection until the client closes it or the drain ends it.
async fn connection(stream: TcpStream, router: Router, close: CancellationToken) {
    let _ = stream.set_nodelay(true);
    let service = TowerToHyperService::new(router);
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = close.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended with an error");
    }
}

/// Installs the SIGTERM and SIGINT handlers (the supervisor's stop
/// signal, Ctrl-C in a terminal) and returns what resolves at the first of
/// them, with its name. Call it before reporting ready: from then on a
/// stop signal drains instead of killing the process.
pub fn termination() -> std::io::Result<impl Future<Output = &'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    })
}
