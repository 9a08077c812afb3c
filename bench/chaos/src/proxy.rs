//! A TCP proxy in front of PostgreSQL that a scenario steers: it passes
//! bytes through, cuts every connection and refuses new ones (a stopped
//! server), or black-holes them (a partition: connections stay open and
//! nothing comes back), and is restored at will. It runs on its own
//! runtime, on a thread of its own, for as long as the scenario holds it.

use std::net::SocketAddr;

use anyhow::Context as _;
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
}

/// The proxy; dropping it stops it.
pub struct Proxy {
    /// Where clients connect instead of the server.
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    _runtime: tokio::runtime::Runtime,
}

impl Proxy {
    /// A proxy to `upstream` (`host:port`), passing bytes.
    pub fn start(upstream: String) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("a tokio runtime for the proxy")?;
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .context("binding the proxy")?;
        let addr = listener.local_addr()?;
        let (mode, watched) = watch::channel(Mode::Pass);
        runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream.clone(), watched.clone()));
            }
        });
        Ok(Self {
            addr,
            mode,
            _runtime: runtime,
        })
    }

    /// Switches every connection, open and new, to `mode`.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

/// Serves one client connection as the mode says, until it is closed.
async fn relay(mut client: TcpStream, upstream: String, mut mode: watch::Receiver<Mode>) {
    let now = *mode.borrow_and_update();
    match now {
        Mode::Cut => return,
        Mode::BlackHole => {
            let _ = mode.wait_for(|m| *m != Mode::BlackHole).await;
            return;
        }
        Mode::Pass => {}
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
        _ = mode.wait_for(|m| *m != Mode::Pass) => {}
    }
    let now = *mode.borrow_and_update();
    if now == Mode::BlackHole {
        // Hold both ends, forwarding nothing, until the partition heals.
        let _ = mode.wait_for(|m| *m != Mode::BlackHole).await;
    }
}

/// `host:port` of a `postgres://user@host:port/db` URL.
pub fn upstream_of(url: &str) -> anyhow::Result<&str> {
    let rest = url.split_once("://").context("a URL with a scheme")?.1;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    rest.split(['/', '?'])
        .next()
        .filter(|host| !host.is_empty())
        .context("a host in the database URL")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upstream_is_the_host_and_port() {
        let url = "postgres://postgres@127.0.0.1:5432/test";
        assert_eq!(upstream_of(url).unwrap(), "127.0.0.1:5432");
        assert_eq!(upstream_of("postgres://db:6000?x=1").unwrap(), "db:6000");
        assert_eq!(upstream_of("postgres://u:p@w@h:1/d").unwrap(), "h:1");
        assert!(upstream_of("no scheme").is_err());
    }
}
