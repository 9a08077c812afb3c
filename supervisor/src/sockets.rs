//! The listening sockets: bound once by the supervisor (or inherited from
//! systemd socket activation) and shared by every worker of an app.
//!
//! One shared accept queue, not SO_REUSEPORT: closing a reuseport listener
//! resets the connections queued on it, so a reload would drop requests.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Which socket an app's `listen` entry means: the address, and for port 0
/// (any free port) also the app, since each app asking for port 0 gets a
/// socket of its own, kept across reloads like any other.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListenKey {
    addr: SocketAddr,
    app: Option<String>,
}

impl ListenKey {
    /// The key of `addr` in the config of `app`.
    pub fn new(addr: SocketAddr, app: &str) -> Self {
        Self {
            addr,
            app: (addr.port() == 0).then(|| app.to_owned()),
        }
    }

    fn shared(addr: SocketAddr) -> Self {
        Self { addr, app: None }
    }
}

/// Listening sockets by what apps ask for, reused across reloads so a
/// changed config never closes a socket that still has connections queued.
#[derive(Default)]
pub struct Listeners {
    by_addr: HashMap<ListenKey, OwnedFd>,
    /// Addresses whose socket systemd passed (never re-keyed otherwise).
    from_systemd: Vec<SocketAddr>,
}

impl Listeners {
    /// Takes over the sockets systemd passed to the supervisor
    /// (`LISTEN_FDS`, when `LISTEN_PID` is ours) so that even a restart of the
    /// supervisor refuses no connection. They are matched to apps by address.
    pub fn from_systemd() -> io::Result<Self> {
        let mut listeners = Self::default();
        for fd in sd_notify::listen_fds()? {
            // SAFETY: sd_listen_fds(3): fds 3..3+LISTEN_FDS belong to this
            // process when LISTEN_PID is our pid; each is taken exactly once.
            let socket = Socket::from(unsafe { OwnedFd::from_raw_fd(fd) });
            match socket.local_addr()?.as_socket() {
                Some(addr) => {
                    tracing::info!(%addr, fd, "using a socket passed by systemd");
                    listeners
                        .by_addr
                        .insert(ListenKey::shared(addr), socket.into());
                    listeners.from_systemd.push(addr);
                }
                None => tracing::warn!(fd, "ignoring a passed socket that is not TCP/IP"),
            }
        }
        Ok(listeners)
    }

    fn passed_wildcard_for(&self, addr: SocketAddr) -> Option<SocketAddr> {
        if self.by_addr.contains_key(&ListenKey::shared(addr)) || !addr.ip().is_unspecified() {
            return None;
        }
        self.from_systemd
            .iter()
            .copied()
            .find(|p| p.port() == addr.port() && p.ip().is_unspecified())
    }

    /// The fds of systemd-passed sockets, so that startup can keep them
    /// while marking every other inherited fd close-on-exec.
    pub fn raw_fds(&self) -> Vec<RawFd> {
        use std::os::fd::AsRawFd;
        self.by_addr.values().map(AsRawFd::as_raw_fd).collect()
    }

    /// Closes the sockets of addresses no app listens on any more, so that
    /// clients get a refusal instead of waiting in a queue nobody serves.
    /// Workers still draining keep their own copies until they exit.
    pub fn retain(&mut self, in_use: &[ListenKey]) {
        self.by_addr.retain(|key, _| {
            let keep = in_use.contains(key);
            if !keep {
                tracing::info!(addr = %key.addr, "no app listens here any more; closing");
            }
            keep
        });
    }

    /// Returns the socket for `addr`, binding it with `backlog` the first time.
    ///
    /// A wildcard address also matches a systemd-passed wildcard socket on
    /// the same port: `ListenStream=3000` gives `[::]:3000` (dual-stack),
    /// which serves an app that says `0.0.0.0:3000`; binding instead would
    /// fail with "address in use".
    pub fn get_or_bind(&mut self, key: &ListenKey, backlog: u32) -> io::Result<&OwnedFd> {
        let addr = key.addr;
        if let Some(passed) = self.passed_wildcard_for(addr) {
            let fd = self
                .by_addr
                .remove(&ListenKey::shared(passed))
                .expect("listed");
            tracing::info!(%addr, %passed, "serving the address with the wildcard socket systemd passed");
            self.by_addr.insert(ListenKey::shared(addr), fd);
            self.from_systemd.retain(|a| *a != passed);
            self.from_systemd.push(addr);
        }
        match self.by_addr.entry(key.clone()) {
            Entry::Occupied(entry) => {
                // A changed `listen_backlog` takes effect on the open socket
                // (listen(2) again only resizes the queue); systemd's
                // sockets keep the socket unit's `Backlog=`.
                if !self.from_systemd.contains(&addr) {
                    socket2::SockRef::from(entry.get())
                        .listen(backlog.min(i32::MAX as u32) as i32)?;
                }
                Ok(entry.into_mut())
            }
            Entry::Vacant(entry) => {
                let fd = bind_tcp(addr, backlog).map_err(|err| {
                    io::Error::new(err.kind(), format!("cannot listen on {addr}: {err}"))
                })?;
                let bound = socket2::SockRef::from(&fd).local_addr()?.as_socket();
                let bound = bound.map_or_else(|| addr.to_string(), |a| a.to_string());
                tracing::info!(%addr, %bound, backlog, "listening");
                Ok(entry.insert(fd))
            }
        }
    }
}

/// Binds a TCP listener with an explicit backlog. SO_REUSEADDR lets a
/// restarted supervisor bind while old connections sit in TIME_WAIT.
pub fn bind_tcp(addr: SocketAddr, backlog: u32) -> io::Result<OwnedFd> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&SockAddr::from(addr))?;
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    Ok(socket.into())
}
