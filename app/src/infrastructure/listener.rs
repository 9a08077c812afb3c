//! The sockets the worker serves: handed over by fd, or bound here.
//!
//! Under corral (or systemd) the listening sockets are inherited by the
//! socket-activation protocol (sd_listen_fds(3)): fds from 3 up, counted by
//! `LISTEN_FDS`, named by `LISTEN_FDNAMES`, and meant for the process whose
//! pid is `LISTEN_PID`. Every worker accepts from the same kernel queue,
//! which is what lets one of them drain while the others keep serving.
//! Sockets named `health` are the worker's private probe socket and serve
//! only the operations routes; every other name serves the API (which
//! includes them). Started by hand, the worker binds `APP_LISTEN`. Every
//! inherited fd is checked to be a listening TCP socket before the worker
//! takes it (crate `inherited-socket`, shared with corral).

use inherited_socket as inherited;

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, RawFd};

use tokio::net::TcpListener;

/// What a socket serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The public API, `/health` and `/metrics` included: `http` sockets
    /// and `APP_LISTEN`.
    Api,
    /// `/health` and `/metrics` only: the private `health` socket, so the
    /// supervisor probes this very worker.
    Ops,
}

/// One listening socket and what it serves.
#[derive(Debug)]
pub struct Listener {
    /// The socket, registered with the runtime.
    pub socket: TcpListener,
    /// Which routes it serves.
    pub role: Role,
    /// Its address, for logs and `STATUS=`.
    pub addr: SocketAddr,
}

/// Why the worker has no socket to serve.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// `LISTEN_FDS`/`LISTEN_FDNAMES` are malformed.
    #[error("the inherited sockets cannot be used: {0} (check LISTEN_FDS and LISTEN_FDNAMES)")]
    Protocol(#[source] std::io::Error),
    /// An inherited fd is not a listening TCP socket; it was left alone.
    #[error(
        "inherited fd {fd} ({name}) {why}, so the worker cannot serve on it \
         (LISTEN_FDS must count only listening TCP sockets, passed from fd 3 up)"
    )]
    Unfit {
        /// The fd.
        fd: RawFd,
        /// Its name from `LISTEN_FDNAMES`.
        name: String,
        /// What it is instead, as [`inherited::unfit`] says.
        why: &'static str,
    },
    /// An inherited fd could not be looked at or set up.
    #[error("inherited fd {fd} ({name}) cannot be used as a listening socket: {source}")]
    NotTcp {
        /// The fd.
        fd: RawFd,
        /// Its name from `LISTEN_FDNAMES`.
        name: String,
        /// What the check said.
        source: std::io::Error,
    },
    /// `APP_LISTEN` could not be bound.
    #[error("cannot listen on {addr} (APP_LISTEN): {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// The inherited sockets when the protocol hands any to this process,
/// else `fallback` bound here. Must run inside the runtime.
pub async fn open(fallback: SocketAddr) -> Result<Vec<Listener>, ListenError> {
    let inherited = inherited()?;
    if !inherited.is_empty() {
        return Ok(inherited);
    }
    let listen_pid = std::env::var("LISTEN_PID").ok();
    if let Some(pid) = listen_pid.filter(|pid| *pid != std::process::id().to_string())
        && std::env::var_os("LISTEN_FDS").is_some()
    {
        tracing::warn!(
            listen_pid = %pid,
            "LISTEN_FDS is meant for another process; binding APP_LISTEN instead"
        );
    }
    let socket = TcpListener::bind(fallback)
        .await
        .map_err(|source| ListenError::Bind {
            addr: fallback,
            source,
        })?;
    let addr = socket.local_addr().unwrap_or(fallback);
    Ok(vec![Listener {
        socket,
        role: Role::Api,
        addr,
    }])
}

/// Takes ownership of the fds that `LISTEN_*` hand to this pid (the
/// `LISTEN_PID` check is sd-notify's; another pid's fds are left alone),
/// once every one of them has been seen to be a listening TCP socket.
fn inherited() -> Result<Vec<Listener>, ListenError> {
    let fds: Vec<_> = sd_notify::listen_fds_with_names()
        .map_err(ListenError::Protocol)?
        .collect();
    for (fd, name) in &fds {
        let not_tcp = |source| ListenError::NotTcp {
            fd: *fd,
            name: name.clone(),
            source,
        };
        if let Some(why) = inherited::unfit(inherited::look(*fd).map_err(not_tcp)?) {
            return Err(ListenError::Unfit {
                fd: *fd,
                name: name.clone(),
                why,
            });
        }
    }
    let mut listeners = Vec::with_capacity(fds.len());
    for (fd, name) in fds {
        // SAFETY: the protocol hands fds 3..3+LISTEN_FDS to this process
        // and nothing else in it opens or owns them; each was just seen to
        // be a listening TCP socket (so not an fd the process opened
        // itself), and the list holds each once, so each becomes owned by
        // exactly one listener.
        let std = unsafe { std::net::TcpListener::from_raw_fd(fd) };
        let not_tcp = |source| ListenError::NotTcp {
            fd,
            name: name.clone(),
            source,
        };
        let addr = std.local_addr().map_err(not_tcp)?;
        std.set_nonblocking(true).map_err(not_tcp)?;
        let socket = TcpListener::from_std(std).map_err(not_tcp)?;
        let role = if name == "health" {
            Role::Ops
        } else {
            Role::Api
        };
        listeners.push(Listener { socket, role, addr });
    }
    Ok(listeners)
}
