//! The listening sockets: bound once by the supervisor (or inherited from
//! systemd socket activation) and shared by every worker of an app.
//!
//! One shared accept queue, not SO_REUSEPORT: closing a reuseport listener
//! resets the connections queued on it, so a reload would drop requests.
//! Sockets systemd passes are checked to be listening TCP sockets before
//! they are adopted (crate `inherited-socket`, shared with the app).

use inherited_socket as inherited;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Weak};

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
///
/// Managers hold their app's sockets as `Arc`s. A socket that no app of the
/// config in force uses is only remembered (`Weak`) while a manager still
/// holds it (an app removed by a reload, still draining): if the address is
/// asked for again meanwhile, that same socket is reused, since binding a
/// second one would fail with "address in use".
#[derive(Default)]
pub struct Listeners {
    by_addr: HashMap<ListenKey, Arc<OwnedFd>>,
    released: HashMap<ListenKey, Weak<OwnedFd>>,
    /// Addresses whose socket systemd passed (never re-keyed otherwise).
    from_systemd: Vec<SocketAddr>,
}

impl Listeners {
    /// Takes over the sockets systemd passed to the supervisor
    /// (`LISTEN_FDS`, when `LISTEN_PID` is ours) so that even a restart of the
    /// supervisor refuses no connection. They are matched to apps by address.
    /// Every fd is checked before any is taken: one that is not a listening
    /// TCP socket is refused, named, and left open.
    pub fn from_systemd() -> io::Result<Self> {
        let fds: Vec<_> = sd_notify::listen_fds_with_names()?.collect();
        for (fd, name) in &fds {
            if let Some(why) = inherited::unfit(inherited::look(*fd)?) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "fd {fd} ({name}) {why}, so no worker could serve on it \
                         (LISTEN_FDS must count only listening TCP sockets)"
                    ),
                ));
            }
        }
        let mut listeners = Self::default();
        for (fd, _) in fds {
            // SAFETY: sd_listen_fds(3): fds 3..3+LISTEN_FDS belong to this
            // process when LISTEN_PID is our pid; each was just seen to be
            // a listening TCP socket, and is taken exactly once.
            let socket = Socket::from(unsafe { OwnedFd::from_raw_fd(fd) });
            let addr = socket.local_addr()?.as_socket().ok_or_else(|| {
                io::Error::other(format!("fd {fd} has no IP address though it is TCP"))
            })?;
            tracing::info!(%addr, fd, "using a socket passed by systemd");
            listeners
                .by_addr
                .insert(ListenKey::shared(addr), Arc::new(socket.into()));
            listeners.from_systemd.push(addr);
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
        self.by_addr.values().map(|fd| fd.as_raw_fd()).collect()
    }

    /// Lets go of the sockets of addresses no app listens on any more: each
    /// closes once no manager holds it either, so clients get a refusal
    /// instead of waiting in a queue nobody serves.
    pub fn retain(&mut self, in_use: &[ListenKey]) {
        let (keep, release): (HashMap<_, _>, HashMap<_, _>) = std::mem::take(&mut self.by_addr)
            .into_iter()
            .partition(|(key, _)| in_use.contains(key));
        self.by_addr = keep;
        for (key, fd) in release {
            tracing::info!(addr = %key.addr, "no app listens here any more; closing it once its workers are gone");
            self.released.insert(key, Arc::downgrade(&fd));
        }
        self.released.retain(|_, fd| fd.strong_count() > 0);
    }

    /// Applies `backlog` to the socket of `key` (listen(2) again only
    /// resizes the queue). Called once a config is accepted, never for one
    /// that may still be refused; systemd's sockets keep the socket unit's
    /// `Backlog=`.
    pub fn set_backlog(&self, key: &ListenKey, backlog: u32) -> io::Result<()> {
        match self.by_addr.get(key) {
            Some(fd) if !self.from_systemd.contains(&key.addr) => {
                socket2::SockRef::from(&**fd).listen(backlog.min(i32::MAX as u32) as i32)
            }
            _ => Ok(()),
        }
    }

    /// Returns the socket for `addr`: the one in use, one still held by a
    /// draining app, or a new one bound with `backlog`.
    ///
    /// A wildcard address also matches a systemd-passed wildcard socket on
    /// the same port: `ListenStream=3000` gives `[::]:3000` (dual-stack),
    /// which serves an app that says `0.0.0.0:3000`; binding instead would
    /// fail with "address in use".
    pub fn get_or_bind(&mut self, key: &ListenKey, backlog: u32) -> io::Result<Arc<OwnedFd>> {
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
        if let Some(fd) = self.by_addr.get(key) {
            return Ok(fd.clone());
        }
        if let Some(fd) = self.released.remove(key).and_then(|fd| fd.upgrade()) {
            tracing::info!(%addr, "reusing the socket of an app that is still draining");
            self.by_addr.insert(key.clone(), fd.clone());
            return Ok(fd);
        }
        let fd = bind_tcp(addr, backlog)
            .map_err(|err| io::Error::new(err.kind(), format!("cannot listen on {addr}: {err}")))?;
        let bound = socket2::SockRef::from(&fd).local_addr()?.as_socket();
        let bound = bound.map_or_else(|| addr.to_string(), |a| a.to_string());
        tracing::info!(%addr, %bound, backlog, "listening");
        let fd = Arc::new(fd);
        self.by_addr.insert(key.clone(), fd.clone());
        Ok(fd)
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
