//! Taking the listening sockets handed over by the socket-activation protocol
//! (sd_listen_fds(3)): fds from 3 up, `LISTEN_FDS` of them, owned by us only
//! when `LISTEN_PID` is our pid, named by `LISTEN_FDNAMES`.

use std::net::TcpListener;
use std::os::fd::{FromRawFd, RawFd};

/// The first fd the protocol hands over (after stdin, stdout, stderr).
const FIRST_FD: RawFd = 3;

/// One inherited listening socket.
pub struct Inherited {
    /// Its name from `LISTEN_FDNAMES` (`http`, `health`, ...), or `fd<N>` when
    /// the supervisor gave no name.
    pub name: String,
    /// The socket, now close-on-exec and non-blocking.
    pub listener: TcpListener,
}

/// Checks the environment and takes ownership of every handed-over fd. An
/// `Err` is a protocol violation the caller reports before exiting 2: a
/// worker must never serve sockets that were meant for another process.
pub fn take() -> Result<Vec<Inherited>, String> {
    let pid = std::process::id();
    let listen_pid = std::env::var("LISTEN_PID").map_err(|_| "LISTEN_PID is not set".to_owned())?;
    if listen_pid.trim().parse::<u32>().ok() != Some(pid) {
        return Err(format!("LISTEN_PID={listen_pid} is not our pid {pid}"));
    }
    let count = std::env::var("LISTEN_FDS").map_err(|_| "LISTEN_FDS is not set".to_owned())?;
    let count: RawFd = count
        .trim()
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("LISTEN_FDS={count} is not a positive number"))?;
    let names = std::env::var("LISTEN_FDNAMES").unwrap_or_default();
    let names: Vec<&str> = names.split(':').filter(|n| !n.is_empty()).collect();
    if !names.is_empty() && names.len() != count as usize {
        eprintln!(
            "test-worker: LISTEN_FDNAMES has {} names for {count} fds",
            names.len()
        );
    }

    let mut taken = Vec::new();
    for (i, fd) in (FIRST_FD..FIRST_FD + count).enumerate() {
        // SAFETY: fcntl on an arbitrary fd number is harmless; it only
        // reports EBADF when the fd is not open.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags < 0 {
            return Err(format!("fd {fd} from LISTEN_FDS is not open"));
        }
        // Close-on-exec, so that a child we spawn does not hold our sockets.
        // SAFETY: as above, on an fd we now know is open.
        unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) };
        // SAFETY: the protocol makes fds 3..3+LISTEN_FDS ours (LISTEN_PID
        // checked above) and nothing else in this process owns them.
        let listener = unsafe { TcpListener::from_raw_fd(fd) };
        // Non-blocking, because after poll() says "readable" another worker
        // sharing the queue may take the connection first, and a blocking
        // accept would then stall the graceful drain.
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("fd {fd}: cannot set non-blocking: {e}"))?;
        let name = names
            .get(i)
            .map_or_else(|| format!("fd{fd}"), |n| (*n).to_owned());
        taken.push(Inherited { name, listener });
    }
    Ok(taken)
}
