//! Worker processes: how one is started and how the supervisor hears
//! from it.
//!
//! [`Launcher::spawn`] starts the process through the exec step (which
//! hands it the sockets and execs its command) and one small task per
//! worker ([`task`]) that turns what the process does (it exits, it sends
//! sd_notify messages, its exec step reports a failure) into lifecycle
//! events for its app's manager. The manager decides; a [`WorkerHandle`]
//! only carries out signals, through the child table, which refuses to
//! signal a pid once it has been reaped.

mod spawn;
mod task;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::sync::Arc;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio_util::task::TaskTracker;

use crate::reaper::ChildTable;

pub use spawn::SpawnRequest;

/// What every spawn needs besides the app's own config.
#[derive(Clone)]
pub struct Launcher {
    /// Exit routing and safe signalling for spawned processes.
    pub table: ChildTable,
    /// `NOTIFY_SOCKET` as workers see it.
    pub notify_address: String,
    /// The supervisor's environment minus what must never reach a worker.
    pub base_env: Arc<[(OsString, OsString)]>,
    /// Log-capture tasks, awaited at shutdown so no line is lost.
    pub tracker: TaskTracker,
}

/// Variables of the supervisor's own environment that describe the
/// supervisor's relation to systemd and must not leak into workers.
const PRIVATE_ENV: [&str; 6] = [
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
];

/// The environment workers start from: the supervisor's, minus systemd's
/// private variables.
pub fn base_env() -> Arc<[(OsString, OsString)]> {
    std::env::vars_os()
        .filter(|(k, _)| !PRIVATE_ENV.iter().any(|p| k == p))
        .collect()
}

/// The manager's side of a running worker.
pub struct WorkerHandle {
    /// The process id (also its process group id).
    pub pid: Pid,
    /// `CORRAL_INSTANCE` of the worker.
    pub instance: usize,
    /// Its private loopback socket, where health probes go.
    pub health_addr: SocketAddr,
    table: ChildTable,
}

impl WorkerHandle {
    /// Asks the worker to drain: `signal` to the worker, then SIGCONT to its
    /// process group, so that a stopped (SIGSTOP) process can act on it.
    pub fn stop(&self, signal: Signal) {
        self.table.signal(self.pid, signal);
        self.table.signal_group(self.pid, Signal::SIGCONT);
    }

    /// SIGKILLs the worker's whole tree (its cgroup, or its process group).
    pub fn kill(&self) {
        self.table.kill_tree(self.pid);
    }
}
