//! The worker's side of the sd_notify protocol: readiness, status,
//! stopping and the watchdog heartbeat, sent to `NOTIFY_SOCKET`.
//!
//! The supervisor (or systemd) counts a worker online only after `READY=1`
//! (`wait_ready`), shows `STATUS=` lines in its status output, and, with a
//! watchdog configured (`WATCHDOG_USEC`), restarts a worker whose heartbeat
//! stops. Without `NOTIFY_SOCKET` every call here does nothing, so the
//! worker runs the same by hand.
//!
//! The datagrams are sent here rather than by `sd_notify::notify`, which
//! (in 0.5) cannot reach a socket in the abstract namespace: corral binds
//! its notify socket there (`NOTIFY_SOCKET=@name`), so that a worker which
//! dropped privileges can still reach it, and systemd may do the same.

use std::ffi::OsString;
use std::io;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::task::JoinHandle;

/// Every listener accepts and the database is migrated: the supervisor
/// may now send traffic and count this worker online.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A one-line summary of what the worker is doing, for `corral status`.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// The worker started draining: it takes no new connections and will exit
/// once its in-flight requests are answered.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("draining")]);
}

/// Starts the heartbeat when the manager asked for one (`WATCHDOG_USEC`,
/// for this pid): `WATCHDOG=1` at half the period. It runs as a task on the
/// server's runtime on purpose: a runtime too stuck to serve requests is
/// also too stuck to beat, and the supervisor replaces the worker.
pub fn spawn_watchdog() -> Option<JoinHandle<()>> {
    let period = sd_notify::watchdog_enabled()?.checked_div(2)?;
    if period.is_zero() {
        return None;
    }
    tracing::debug!(?period, "watchdog heartbeat enabled");
    Some(tokio::spawn(heartbeat(period)))
}

async fn heartbeat(period: Duration) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        send(&[NotifyState::Watchdog]);
    }
}

/// Sends, logging a failure: the manager being gone is not a reason for
/// the worker to stop serving.
fn send(states: &[NotifyState<'_>]) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let message: String = states.iter().map(|state| format!("{state}\n")).collect();
    if let Err(error) = send_to(&path, message.as_bytes()) {
        tracing::warn!(%error, socket = ?path, "cannot notify the service manager");
    }
}

/// One datagram to `path`: a file, or `@name` in the abstract namespace.
fn send_to(path: &OsString, message: &[u8]) -> io::Result<()> {
    let bytes = path.as_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(path)?,
    };
    let sent = UnixDatagram::unbound()?.send_to_addr(message, &addr)?;
    if sent == message.len() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "the notification was truncated",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaches_path_and_abstract_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("notify");
        let by_path = UnixDatagram::bind(&file).unwrap();
        send_to(&file.clone().into_os_string(), b"READY=1\n").unwrap();
        let mut buf = [0u8; 64];
        let n = by_path.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\n");

        let name = format!("app-notify-test-{}", std::process::id());
        let abstract_addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let by_name = UnixDatagram::bind_addr(&abstract_addr).unwrap();
        send_to(&format!("@{name}").into(), b"STOPPING=1\n").unwrap();
        let n = by_name.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1\n");
    }
}
