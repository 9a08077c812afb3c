//! A TCP proxy in front of a database that a test or a bench scenario
//! steers: it passes bytes through, cuts every connection and refuses new
//! ones (a stopped server), or black-holes them (a partition: connections
//! stay open and nothing comes back), and is restored at will. Shared by
//! the app's fault tests and the chaos bench's outage scenario.
//!
//! It runs on a runtime of its own, on a thread of its own, so that it can
//! be started and dropped from synchronous code and from async code alike.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bytes flow both ways.
    Pass,
    /// Every connection is closed, new ones too, at once.
    Cut,
    /// Connections are held open and nothing is forwarded, new ones too;
    /// when the mode changes they are closed (the server has long given up
    /// on them).
    BlackHole,
    /// New connections pass; those held by a black hole stay dark (a
    /// server that came back without a word about its old sessions).
    PassNew,
    /// The proxy is gone: every connection closes and its thread ends.
    Stopped,
}

impl Mode {
    /// Whether new connections reach the server.
    fn passes(self) -> bool {
        matches!(self, Self::Pass | Self::PassNew)
    }

    /// Whether connections held dark stay so.
    fn holds(self) -> bool {
        matches!(self, Self::BlackHole | Self::PassNew)
    }
}

/// The proxy; dropping it closes its connections and ends its thread.
pub struct Proxy {
    /// Where clients connect instead of the server.
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
}

impl Proxy {
    /// A proxy to `upstream` (`host:port`), passing bytes.
    pub fn start(upstream: String) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (mode, watched) = watch::channel(Mode::Pass);
        std::thread::Builder::new()
            .name("steered-proxy".into())
            .spawn(move || runtime.block_on(serve(listener, upstream, watched)))?;
        Ok(Self { addr, mode })
    }

    /// Switches every connection, open and new, to `mode`.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// `url` (a database URL naming `host:port`) with the proxy in their
    /// place.
    pub fn route(&self, url: &str) -> Option<String> {
        Some(url.replacen(upstream_of(url)?, &self.addr.to_string(), 1))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.set(Mode::Stopped);
    }
}

/// Accepts until the proxy stops, each connection served on a task.
async fn serve(listener: std::net::TcpListener, upstream: String, mode: watch::Receiver<Mode>) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    let mut stop = mode.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    tokio::spawn(relay(client, upstream.clone(), mode.clone()));
                }
                Err(_) => return,
            },
            _ = stop.wait_for(|m| *m == Mode::Stopped) => return,
        }
    }
}

/// Serves one client connection as the mode says, until it is closed.
async fn relay(mut client: TcpStream, upstream: String, mut mode: watch::Receiver<Mode>) {
    let now = *mode.borrow_and_update();
    match now {
        Mode::Cut | Mode::Stopped => return,
        Mode::BlackHole => {
            let _ = mode.wait_for(|m| !m.holds()).await;
            return;
        }
        Mode::Pass | Mode::PassNew => {}
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
        _ = mode.wait_for(|m| !m.passes()) => {}
    }
    if mode.borrow_and_update().holds() {
        // Hold both ends, forwarding nothing, until the partition heals.
        let _ = mode.wait_for(|m| !m.holds()).await;
    }
}

/// `host:port` of a `postgres://user@host:port/db` URL.
pub fn upstream_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    rest.split(['/', '?'])
        .next()
        .filter(|host| !host.is_empty())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    #[test]
    fn the_upstream_is_the_host_and_port() {
        let url = "postgres://postgres@127.0.0.1:5432/test";
        assert_eq!(upstream_of(url), Some("127.0.0.1:5432"));
        assert_eq!(upstream_of("postgres://db:6000?x=1"), Some("db:6000"));
        assert_eq!(upstream_of("postgres://u:p@w@h:1/d"), Some("h:1"));
        assert_eq!(upstream_of("no scheme"), None);
    }

    /// An echo server behind the proxy: bytes pass, then a cut closes the
    /// connection and refuses the next, and passing again lets one in.
    #[test]
    fn it_passes_cuts_and_passes_again() {
        let echo = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let upstream = echo.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for mut conn in echo.incoming().map_while(Result::ok) {
                std::thread::spawn(move || {
                    let mut buffer = [0; 64];
                    while let Ok(n @ 1..) = conn.read(&mut buffer) {
                        let _ = conn.write_all(&buffer[..n]);
                    }
                });
            }
        });
        let proxy = Proxy::start(upstream).unwrap();
        let echoed = |conn: &mut std::net::TcpStream| {
            conn.write_all(b"ping").ok()?;
            let mut back = [0; 4];
            conn.read_exact(&mut back).ok().map(|()| back)
        };
        let mut conn = std::net::TcpStream::connect(proxy.addr).unwrap();
        assert_eq!(echoed(&mut conn), Some(*b"ping"));
        proxy.set(Mode::Cut);
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(echoed(&mut conn), None, "the open connection is cut");
        let mut refused = std::net::TcpStream::connect(proxy.addr).unwrap();
        assert_eq!(echoed(&mut refused), None, "a new one is closed at once");
        proxy.set(Mode::Pass);
        let mut again = std::net::TcpStream::connect(proxy.addr).unwrap();
        assert_eq!(echoed(&mut again), Some(*b"ping"));
    }
}
