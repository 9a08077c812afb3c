//! The sd_notify(3) client: the worker tells the supervisor it is ready
//! (`READY=1`), alive (`WATCHDOG=1`) and stopping (`STOPPING=1`) by datagrams
//! to `NOTIFY_SOCKET`, the same way a systemd-aware server would.

use std::os::fd::{AsRawFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::Worker;

/// One datagram socket opened once at start, so that the set of open fds that
/// `/info` reports does not flicker with every heartbeat.
pub struct Notifier {
    /// The unbound (close-on-exec) socket we send from.
    sock: UnixDatagram,
    /// Where `NOTIFY_SOCKET` points: a path, or an abstract name given as `@name`.
    addr: SocketAddr,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`; `None` when it is unset or empty, as when the
    /// worker runs outside any supervisor.
    pub fn from_env() -> Option<Self> {
        let target = std::env::var("NOTIFY_SOCKET").ok()?;
        if target.is_empty() {
            return None;
        }
        let addr = match target.strip_prefix('@') {
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
            None => SocketAddr::from_pathname(&target),
        };
        let addr = match addr {
            Ok(addr) => addr,
            Err(e) => {
                eprintln!("test-worker: bad NOTIFY_SOCKET {target:?}: {e}");
                return None;
            }
        };
        match UnixDatagram::unbound() {
            Ok(sock) => Some(Self { sock, addr }),
            Err(e) => {
                eprintln!("test-worker: cannot create notify socket: {e}");
                None
            }
        }
    }

    /// Sends one message (newline-separated `KEY=value` lines); a failure is
    /// logged, not fatal, since a supervisor that stopped listening is the
    /// supervisor's problem to detect.
    pub fn send(&self, message: &str) {
        if let Err(e) = self.sock.send_to_addr(message.as_bytes(), &self.addr) {
            eprintln!("test-worker: notify {message:?} failed: {e}");
        }
    }

    /// The socket's fd, reported by `/info` so tests can discount it.
    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

/// Sends `WATCHDOG=1` every half of `WATCHDOG_USEC`, as sd_watchdog_enabled(3)
/// advises, for as long as the process lives (draining included) or until
/// `GET /watchdog/stop`.
pub fn start_heartbeats(notifier: &Arc<Notifier>, worker: &Arc<Worker>) {
    let Some(usec) = crate::env_number::<u64>("WATCHDOG_USEC").filter(|u| *u > 0) else {
        return;
    };
    let (notifier, worker) = (Arc::clone(notifier), Arc::clone(worker));
    let interval = Duration::from_micros(usec / 2);
    std::thread::spawn(move || {
        while worker.heartbeats.load(Ordering::SeqCst) {
            notifier.send("WATCHDOG=1");
            std::thread::sleep(interval);
        }
    });
}
