//! A stand-in for systemd's notify socket: what the supervisor tells
//! systemd (`READY=1`, `STATUS=...`, `RELOADING=1`, `WATCHDOG=1`,
//! `STOPPING=1`), as the test reads it; and the clock systemd compares
//! `MONOTONIC_USEC=` with.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use super::EVENT_TIMEOUT;

/// A datagram socket to point the supervisor's `NOTIFY_SOCKET` at.
pub struct FakeSystemd {
    path: PathBuf,
    messages: mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

impl FakeSystemd {
    /// Binds the socket in a temp dir of its own and starts reading it.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("systemd-notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind notify socket");
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = socket.recv(&mut buf) {
                let message = String::from_utf8_lossy(&buf[..n]).into_owned();
                if tx.send(message).is_err() {
                    break;
                }
            }
        });
        Self {
            path,
            messages,
            _dir: dir,
        }
    }

    /// Where `NOTIFY_SOCKET` must point.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Forgets the messages received so far: what [`FakeSystemd::until`]
    /// returns next was sent after them.
    pub fn forget(&self) {
        while self.messages.try_recv().is_ok() {}
    }

    /// Waits for the next message with a line starting with `key`.
    pub fn expect(&self, key: &str) -> String {
        let mut told = self.until(key, |line| line.starts_with(key));
        told.pop().expect("the message with the key")
    }

    /// Every message from now up to and including the next one with a line
    /// that is `wanted` (`what` names it for the failure message).
    pub fn until(&self, what: &str, wanted: impl Fn(&str) -> bool) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let message = self
                .messages
                .recv_timeout(EVENT_TIMEOUT)
                .unwrap_or_else(|_| panic!("no {what} from corral; it sent {seen:?}"));
            let found = message.lines().any(&wanted);
            seen.push(message);
            if found {
                return seen;
            }
        }
    }
}

/// The value of `key` in a notify message (`MONOTONIC_USEC` of
/// `RELOADING=1\nMONOTONIC_USEC=123`), if the message has that line.
pub fn notify_value<'a>(message: &'a str, key: &str) -> Option<&'a str> {
    message
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
}

/// CLOCK_MONOTONIC now, in microseconds: what `MONOTONIC_USEC=` means.
pub fn monotonic_usec() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to fill in, and
    // CLOCK_MONOTONIC exists on every Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC)");
    now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1_000
}
