//! One app's manager: a task that carries out the lifecycle's decisions.
//!
//! The decisions are made by the pure state machine in [`crate::lifecycle`];
//! a manager feeds it events (worker exits and notifications, probe results,
//! samples, the clock, the daemon's commands), executes the actions it
//! returns (spawn, signal, probe, sample) and publishes the app's state into
//! the shared [`Fleet`] `watch` channel that the daemon (and systemd
//! notification) subscribe to.

mod commands;
mod execute;
mod history;
mod manager;
mod publish;
mod report;
mod status;
mod waiters;

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use status::{AppState, AppStatus, DroppedLines, Health, WorkerState, WorkerStatus};

use crate::config::AppConfig;
use crate::control::describe::Description;
use crate::logs::{Compressor, Tail};
use crate::worker::Launcher;

/// How a command that takes time ended: `Ok` with a sentence for the
/// operator, or `Err` with why.
pub type Outcome = Result<String, String>;

/// Where a command's outcome goes, once it is done.
pub type Done = oneshot::Sender<Outcome>;

/// What the daemon asks of an app.
pub enum AppCommand {
    /// Apply a (possibly changed) config with a rolling, new-first reload.
    Reload {
        /// The new config.
        config: Arc<AppConfig>,
        /// The app's listening sockets under the new config.
        listeners: Vec<Arc<OwnedFd>>,
        /// The folder of the app's log files under the new config.
        log_dir: PathBuf,
        /// Told when the rollout completes or stops.
        done: Option<Done>,
    },
    /// An operator's verb (`stop`, `start`, `restart`, `scale`).
    Verb {
        /// Which.
        verb: Verb,
        /// Told when it is carried out.
        done: Done,
    },
    /// Describe the app (`corral describe`).
    Describe(oneshot::Sender<Description>),
    /// The end of the app's log files, and what follows (`corral logs`).
    Tail {
        /// Lines of history per file.
        lines: usize,
        /// stdout, stderr.
        streams: (bool, bool),
        /// Keep sending new lines.
        follow: bool,
        /// Where the answer goes.
        reply: oneshot::Sender<Tail>,
    },
    /// Reopen the log files (SIGUSR1).
    ReopenLogs,
    /// Stop every worker gracefully and end the manager.
    Shutdown,
}

/// The verbs an operator applies to a running app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Stop every worker; they stay stopped.
    Stop,
    /// Start what is stopped.
    Start,
    /// Stop and start every worker at once.
    Restart,
    /// Run this many workers.
    Scale(usize),
}

/// The state of every app by name, published by the managers.
pub type Fleet = BTreeMap<String, AppStatus>;

/// The daemon's side of a running app.
pub struct AppHandle {
    commands: mpsc::UnboundedSender<AppCommand>,
    task: JoinHandle<()>,
}

/// What every app's manager shares.
#[derive(Clone)]
pub struct AppContext {
    /// Spawns worker processes.
    pub launcher: Launcher,
    /// CPUs this supervisor may use, for `instances = "max"`.
    pub cpus: usize,
    /// Where managers publish their state.
    pub fleet: watch::Sender<Fleet>,
    /// Gzips rotated log files in the background, for every app.
    pub compressor: Compressor,
}

/// Managers started so far: each gets the next number, so that the manager
/// of an app removed by a reload (still draining) never overwrites or
/// deletes the fleet entry of the app added back under the same name.
static MANAGERS: AtomicU64 = AtomicU64::new(0);

impl AppHandle {
    /// Starts the app's manager, which spawns its workers at once; `done`
    /// is told once every worker is online (or the app errored).
    pub fn start(
        ctx: AppContext,
        config: Arc<AppConfig>,
        listeners: Vec<Arc<OwnedFd>>,
        log_dir: PathBuf,
        done: Option<Done>,
    ) -> Self {
        let (commands, rx) = mpsc::unbounded_channel();
        let serial = MANAGERS.fetch_add(1, Ordering::Relaxed);
        let manager = manager::Manager::new(ctx, serial, config, listeners, log_dir, done);
        let task = tokio::spawn(manager.run(rx));
        Self { commands, task }
    }

    /// Sends a command; a manager that already ended ignores it.
    pub fn send(&self, command: AppCommand) {
        let _ = self.commands.send(command);
    }

    /// Stops every worker and waits until all are reaped.
    pub async fn shutdown(self) {
        self.send(AppCommand::Shutdown);
        if let Err(err) = self.task.await {
            tracing::error!(%err, "app manager failed");
        }
    }
}
