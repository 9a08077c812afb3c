//! The accept queue the test shares with the worker, as the other workers
//! under corral would: whether the worker took a connection from it, and
//! taking one as another worker would. The kernel signals neither, so
//! these poll every few milliseconds.

use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// How often the queue is looked at.
const POLL: Duration = Duration::from_millis(5);

/// Connections established and waiting in `listener`'s accept queue.
fn queued(listener: &TcpListener) -> u32 {
    // SAFETY: an all-zero tcp_info is a valid value (plain integers).
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the fd is the listener's, open for the call; `info` and `len`
    // are valid for writes and `len` holds the size of `info`.
    let status = unsafe {
        libc::getsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        )
    };
    assert_eq!(status, 0, "{}", std::io::Error::last_os_error());
    // For a listening socket Linux reports the accept queue's length here.
    info.tcpi_unacked
}

/// Waits until the worker has accepted every connection waiting in the
/// queue, so those opened before are the worker's, not the queue's.
pub fn await_accepted(listener: &TcpListener, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while queued(listener) > 0 {
        assert!(
            Instant::now() < deadline,
            "the worker did not accept within {timeout:?}"
        );
        std::thread::sleep(POLL);
    }
}

/// Takes a connection from the queue as another worker would, if one
/// arrives within `timeout`.
pub fn take(listener: &TcpListener, timeout: Duration) -> Option<TcpStream> {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + timeout;
    loop {
        match listener.accept() {
            Ok((stream, _)) => return Some(stream),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("accept from the shared queue: {e}"),
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(POLL);
    }
}
