//! Binding `admin_listen`, serving it, and moving it when a reload changes
//! the address.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::routes;
use crate::control::Observed;

/// How long a client may take to send the headers of a request: a client
/// that opens connections and sends nothing does not hold them for ever.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Why `admin_listen` cannot be bound.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot listen on {addr} (admin_listen): {source}; free that address or give admin_listen another one"
)]
pub struct BindError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// What the kernel said.
    pub source: io::Error,
}

/// A bound `admin_listen` socket, not served yet: bound by `corral run`
/// before the runtime starts, so a taken port refuses the config before
/// any worker is started.
#[derive(Debug)]
pub struct AdminListener {
    configured: SocketAddr,
    listener: std::net::TcpListener,
}

impl AdminListener {
    /// Binds `addr` (port 0 picks a free port; the `admin listening` event
    /// says which). The socket is close-on-exec, so no worker inherits it.
    pub fn bind(addr: SocketAddr) -> Result<Self, BindError> {
        let failed = |source| BindError { addr, source };
        let listener = std::net::TcpListener::bind(addr).map_err(failed)?;
        listener.set_nonblocking(true).map_err(failed)?;
        Ok(Self {
            configured: addr,
            listener,
        })
    }
}

/// What a reload does to the admin listener, decided (and the new address
/// bound) before anything else changes, carried out once nothing can
/// refuse the config any more.
#[derive(Debug)]
pub enum Switch {
    /// `admin_listen` did not change.
    Keep,
    /// `admin_listen` was removed: stop serving.
    Close,
    /// A new address, already bound: serve it instead.
    Open(AdminListener),
}

/// The admin listener in force, if any.
pub struct AdminServer {
    observed: Observed,
    serving: Option<Serving>,
}

/// The address being served and the task serving it; aborting the task
/// closes the socket and every connection to it.
struct Serving {
    configured: SocketAddr,
    task: JoinHandle<()>,
}

impl AdminServer {
    /// Serves `listener` (what `corral run` bound, if `admin_listen` is
    /// set) from the state `observed` reads. Must run inside the runtime.
    pub fn start(observed: Observed, listener: Option<AdminListener>) -> Self {
        let mut server = Self {
            observed,
            serving: None,
        };
        if let Some(listener) = listener {
            server.switch(Switch::Open(listener));
        }
        server
    }

    /// What serving `wanted` takes: nothing if it is the address in force,
    /// else the new socket bound now, or why it cannot be.
    pub fn prepare(&self, wanted: Option<SocketAddr>) -> Result<Switch, BindError> {
        let current = self.serving.as_ref().map(|s| s.configured);
        Ok(match wanted {
            _ if wanted == current => Switch::Keep,
            None => Switch::Close,
            Some(addr) => Switch::Open(AdminListener::bind(addr)?),
        })
    }

    /// Carries out what [`AdminServer::prepare`] decided.
    pub fn switch(&mut self, switch: Switch) {
        let listener = match switch {
            Switch::Keep => return,
            Switch::Close => {
                self.close();
                return;
            }
            Switch::Open(listener) => listener,
        };
        self.close();
        let AdminListener {
            configured,
            listener,
        } = listener;
        let listener = match TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(err) => {
                tracing::error!(addr = %configured, %err, "cannot serve admin_listen");
                return;
            }
        };
        let bound = listener
            .local_addr()
            .map_or_else(|_| configured.to_string(), |a| a.to_string());
        tracing::info!(addr = %configured, %bound, "admin listening");
        let task = tokio::spawn(serve(listener, self.observed.clone()));
        self.serving = Some(Serving { configured, task });
    }

    fn close(&mut self) {
        if let Some(serving) = self.serving.take() {
            serving.task.abort();
            tracing::info!(addr = %serving.configured, "admin listener closed");
        }
    }
}

/// Accepts connections until aborted; the connections are the task's own,
/// so they end with it.
async fn serve(listener: TcpListener, observed: Observed) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, observed.clone()));
                }
                Err(err) => {
                    tracing::warn!(%err, "admin listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next() => {}
        }
    }
}

async fn connection(stream: TcpStream, observed: Observed) {
    let service = service_fn(move |request: hyper::Request<Incoming>| {
        let response = routes::respond(request.method(), request.uri().path(), &observed);
        async move { Ok::<_, Infallible>(response) }
    });
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(err) = served {
        tracing::debug!(%err, "admin connection ended with an error");
    }
}
