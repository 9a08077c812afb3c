//! A TCP proxy in front of PostgreSQL that a test steers: it passes bytes
//! through, cuts every connection and refuses new ones (a stopped server),
//! or black-holes them (a partition: connections stay open and nothing
//! comes back), and is restored at will.

use std::net::SocketAddr;
use std::str::FromStr as _;

use sqlx::postgres::PgConnectOptions;
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

/// The proxy; its tasks end with the test's runtime.
pub struct Proxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
}

impl Proxy {
    /// A proxy to `upstream` (`host:port`), passing bytes.
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, watched) = watch::channel(Mode::Pass);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream.clone(), watched.clone()));
            }
        });
        Self { addr, mode }
    }

    /// Switches every connection, open and new, to `mode`.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// `url` with its host and port replaced by the proxy's.
    pub fn route(&self, url: &str) -> String {
        let options = PgConnectOptions::from_str(url).unwrap();
        let upstream = format!("{}:{}", options.get_host(), options.get_port());
        if url.contains(&upstream) {
            url.replacen(&upstream, &self.addr.to_string(), 1)
        } else {
            let host = format!("@{}", options.get_host());
            assert!(url.contains(&host), "cannot find the host in {url}");
            url.replacen(&host, &format!("@{}", self.addr), 1)
        }
    }

    /// The `host:port` of the server `url` names.
    pub fn upstream_of(url: &str) -> String {
        let options = PgConnectOptions::from_str(url).unwrap();
        format!("{}:{}", options.get_host(), options.get_port())
    }
}

/// Serves one client connection as the mode says, until it is closed.
async fn relay(mut client: TcpStream, upstream: String, mut mode: watch::Receiver<Mode>) {
    let now = *mode.borrow_and_update();
    match now {
        Mode::Cut => return,
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
