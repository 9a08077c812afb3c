//! The task of one worker: it turns what the process does into lifecycle
//! events, and ends when the process is reaped.

use nix::sys::signal::Signal;
use tokio::io::AsyncReadExt as _;
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};

use crate::lifecycle::{Event, WorkerId};
use crate::notify::Notification;
use crate::reaper::ExitStatus;

/// Longest failure message the exec step may send; more is cut.
const MAX_STATUS: usize = 4096;

/// Forwards the worker's exec-step failure, its sd_notify messages and
/// finally its exit to its manager.
pub(super) async fn run(
    id: WorkerId,
    mut exit: oneshot::Receiver<ExitStatus>,
    mut notify: mpsc::UnboundedReceiver<Notification>,
    mut status: pipe::Receiver,
    events: mpsc::UnboundedSender<Event>,
) {
    let send = |event| {
        let _ = events.send(event);
    };
    let mut failure = Vec::new();
    let mut status_open = true;
    let mut chunk = [0u8; 512];
    loop {
        tokio::select! {
            // The exit last of all: the exec step's message and READY=1 sent
            // before it must reach the manager first.
            biased;
            read = status.read(&mut chunk), if status_open => match read {
                Ok(0) | Err(_) => {
                    status_open = false;
                    if !failure.is_empty() {
                        let error = String::from_utf8_lossy(&failure).trim().to_owned();
                        send(Event::ExecFailed { worker: id, error });
                    }
                }
                Ok(n) => {
                    let room = MAX_STATUS.saturating_sub(failure.len());
                    failure.extend_from_slice(&chunk[..n.min(room)]);
                }
            },
            Some(message) = notify.recv() => match message {
                Notification::Ready => send(Event::Ready(id)),
                Notification::Watchdog => send(Event::Heartbeat(id)),
                Notification::Status(text) => tracing::debug!(worker = id, status = %text, "worker status"),
                Notification::Stopping => tracing::debug!(worker = id, "worker says it is stopping"),
            },
            status = &mut exit, if !status_open => {
                let status = status.unwrap_or(ExitStatus::Signal(Signal::SIGKILL));
                send(Event::Exited { worker: id, status });
                return;
            }
        }
    }
}
