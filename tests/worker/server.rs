//! The accept loops and the per-connection threads, built so that a SIGTERM
//! stops accepting within one poll interval (of the drain closing the
//! listeners) while requests already accepted run to completion.

use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::{Worker, http, routes};

/// How long an accept loop waits in poll() before re-checking the closing flag.
const POLL_MS: libc::c_int = 50;

/// A client that sends nothing must not hold the drain up for ever.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Counts a connection as in flight for as long as it lives, even if its
/// handler panics, so the drain never waits for a request that is gone.
struct InFlight(Arc<Worker>);

impl InFlight {
    /// Counts one more connection in flight.
    fn new(worker: Arc<Worker>) -> Self {
        worker.in_flight.fetch_add(1, Ordering::SeqCst);
        Self(worker)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Accepts on `listener` until the closing flag is set, then returns, which drops
/// (closes) our copy of the socket. Connections left in the shared queue stay
/// there for the other workers: closing one fd of a shared socket drops none.
pub fn accept_loop(listener: TcpListener, worker: Arc<Worker>) {
    let fd = listener.as_raw_fd();
    while !worker.closing.load(Ordering::SeqCst) {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, for an fd owned by `listener`.
        let ready = unsafe { libc::poll(&mut pfd, 1, POLL_MS) };
        if ready <= 0 || worker.closing.load(Ordering::SeqCst) {
            continue;
        }
        match listener.accept() {
            Ok((stream, _)) => {
                let guard = InFlight::new(Arc::clone(&worker));
                std::thread::spawn(move || serve(stream, guard));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("test-worker: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Reads one request, answers it and closes the connection; or, for a
/// request that must hang, keeps the connection open and unanswered until
/// the process exits.
fn serve(stream: TcpStream, guard: InFlight) {
    let worker = Arc::clone(&guard.0);
    // accept() does not pass O_NONBLOCK on, but say so rather than rely on it.
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let request = match http::read_request(&stream) {
        Ok(Some(request)) => request,
        Ok(None) => return,
        Err(e) => {
            eprintln!("test-worker: reading request failed: {e}");
            return;
        }
    };
    let Some((status, body)) = routes::handle(&worker, &request, stream.as_raw_fd()) else {
        // A hung request is not one the drain could ever finish: it must
        // not hold the drain up, only the connection open.
        drop(guard);
        loop {
            std::thread::park();
        }
    };
    if let Err(e) = http::write_response(&stream, status, &body) {
        eprintln!("test-worker: writing response failed: {e}");
    }
}
