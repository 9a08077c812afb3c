//! Serving routers on sockets, and the graceful drain.
//!
//! Each socket has one accept task; each connection one task, served by
//! hyper's HTTP/1.1 connection with keep-alive (module `connection`). Accept
//! tasks and connection tasks each have a [`TaskTracker`], so the drain
//! can close every socket before touching any connection.
//!
//! Draining (on SIGTERM or SIGINT) must fail no request, and goes in this
//! order:
//! 1. the accept tasks return and drop their sockets at once, so this
//!    worker takes nothing more from the kernel queue it shares with the
//!    other workers, who serve what is waiting there;
//! 2. the drain flag is set: from then on every response carries
//!    `Connection: close`, so hyper closes its connection after writing it
//!    and the client's next request opens a new connection, which another
//!    worker accepts;
//! 3. every connection is closed once it has been idle (no request in
//!    progress, no byte received) for [`IDLE_GRACE`], counted from the
//!    drain's start at the earliest. Closing an idle connection at once
//!    would race the client's next request on it (which then fails), and
//!    would drop a connection accepted whose request is not read yet;
//! 4. the drain waits for the connection tasks, for at most its bound;
//!    whatever is left after it is cut when the runtime stops.
//!
//! Each connection bounds how long a client may take to send a request:
//! the wait for its head (module `head_clock`) and its body (module
//! `body_pace`), answering 408 where a request has begun.
//!
//! Under corral with several workers, the accept loops of the shared
//! sockets hold back while this worker has more than its share of the
//! open connections (module `balance`); the drain is the same either way,
//! and leaves the balance at step 1.

mod balance;
mod body_pace;
mod connection;
mod draining;
mod exchanges;
mod head_clock;
mod watched;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use balance::{Balance, Held};
pub use body_pace::{BODY_MIN_RATE, BodyTimedOut};
pub use connection::IDLE_GRACE;
use draining::Draining;

use super::listener::{Listener, Role};
use super::settings::{Instance, ReadTimeouts};

/// Accept errors such as running out of fds are retried after this pause,
/// so a full fd table does not turn the accept loop into a busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The running server: its sockets accept until [`Server::drain`].
pub struct Server {
    accepting: TaskTracker,
    balance: Option<Arc<Balance>>,
    stop_accepting: CancellationToken,
    connections: Connections,
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
    /// With `instance` (corral's slot and worker count), the API sockets
    /// balance their connections with the other workers'. Every connection
    /// reads its requests within `timeouts`.
    pub fn start(
        endpoints: impl IntoIterator<Item = (Listener, Router)>,
        instance: Option<Instance>,
        timeouts: ReadTimeouts,
    ) -> Self {
        let endpoints: Vec<_> = endpoints.into_iter().collect();
        let balance = instance.and_then(|instance| {
            let (first, _) = endpoints.iter().find(|(l, _)| l.role == Role::Api)?;
            Balance::join(instance, &first.socket)
        });
        let server = Self {
            accepting: TaskTracker::new(),
            balance: balance.clone(),
            stop_accepting: CancellationToken::new(),
            connections: Connections {
                tasks: TaskTracker::new(),
                timeouts,
                draining: Draining::leak(),
                drain_began: CancellationToken::new(),
            },
        };
        for (listener, router) in endpoints {
            let balance = balance.clone().filter(|_| listener.role == Role::Api);
            server.accepting.spawn(accept(
                listener.socket,
                router,
                balance,
                server.stop_accepting.clone(),
                server.connections.clone(),
            ));
        }
        server.accepting.close();
        server
    }

    /// Closes every socket and returns once none accepts any more: from
    /// then on whatever a client opens reaches another worker. Telling the
    /// supervisor `STOPPING=1` after this, not before, makes it true.
    pub async fn stop_accepting(&self) {
        self.stop_accepting.cancel();
        self.accepting.wait().await;
        if let Some(balance) = &self.balance {
            balance.leave();
        }
    }

    /// Drains in the order the module doc gives, waiting at most `bound`:
    /// every socket is closed before any connection learns of the drain,
    /// so whatever a client opens from then on reaches another worker.
    pub async fn drain(self, bound: Duration) -> Drain {
        self.stop_accepting().await;
        let connections = self.connections.begin_drain();
        match tokio::time::timeout(bound, connections.wait()).await {
            Ok(()) => Drain::Complete,
            Err(_) => Drain::TimedOut {
                open: connections.len(),
            },
        }
    }
}

/// The connection tasks, and how they learn of the drain.
#[derive(Clone)]
struct Connections {
    tasks: TaskTracker,
    /// How long a request's head and body may take to arrive.
    timeouts: ReadTimeouts,
    /// Read on the hot path; set before `drain_began` fires.
    draining: &'static Draining,
    /// Wakes every connection task when the drain begins.
    drain_began: CancellationToken,
}

impl Connections {
    /// Serves `stream` in a task of its own, counted in the balance (if
    /// `held`) until it closes.
    fn serve(&self, stream: TcpStream, router: Router, held: Option<Held>) {
        let served = connection::serve(
            stream,
            router,
            self.timeouts,
            self.draining,
            self.drain_began.clone(),
        );
        self.tasks.spawn(async move {
            served.await;
            drop(held);
        });
    }

    /// Tells every connection the drain has begun, and returns the tasks
    /// to wait for. Call it once no socket accepts any more.
    fn begin_drain(self) -> TaskTracker {
        self.tasks.close();
        self.draining.begin();
        self.drain_began.cancel();
        self.tasks
    }
}

/// Accepts until told to stop, then drops (closes) the socket. With a
/// balance, each connection is first admitted by it.
async fn accept(
    socket: TcpListener,
    router: Router,
    balance: Option<Arc<Balance>>,
    stop: CancellationToken,
    connections: Connections,
) {
    let mut patience = balance::Patience::default();
    loop {
        if let Some(balance) = &balance {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                () = balance.admit(&socket, &mut patience) => {}
            }
        }
        let accepted = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            accepted = socket.accept() => accepted,
        };
        match accepted {
            Ok((stream, _peer)) => {
                let held = balance.as_ref().map(Balance::hold);
                connections.serve(stream, router.clone(), held);
            }
            Err(error) => {
                tracing::warn!(%error, "accept failed; retrying");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
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
