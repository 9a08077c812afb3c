//! One app's manager: keeps its configured number of workers running.
//!
//! A single task owns the app's worker slots. It starts workers, applies the
//! restart policy when one exits, runs rolling reloads (new worker ready
//! before the old one drains, one slot at a time) and stops everything on
//! shutdown. Its state is published into the shared [`Fleet`] `watch`
//! channel that the daemon and systemd notification subscribe to.

mod manager;
mod status;

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use status::{AppState, AppStatus, WorkerState, WorkerStatus};

use crate::config::AppConfig;
use crate::worker::Launcher;

/// What the daemon asks of an app.
pub enum AppCommand {
    /// Apply a (possibly changed) config with a rolling, new-first reload.
    Reload {
        /// The new config.
        config: Arc<AppConfig>,
        /// The app's listening sockets under the new config.
        listeners: Vec<OwnedFd>,
        /// The folder of the app's log files under the new config.
        log_dir: PathBuf,
    },
    /// Reopen the log files (SIGUSR1).
    ReopenLogs,
    /// Stop every worker gracefully and end the manager.
    Shutdown,
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
}

impl AppHandle {
    /// Starts the app's manager, which spawns its workers at once.
    pub fn start(
        ctx: AppContext,
        config: Arc<AppConfig>,
        listeners: Vec<OwnedFd>,
        log_dir: PathBuf,
    ) -> Self {
        let (commands, rx) = mpsc::unbounded_channel();
        let manager = manager::Manager::new(ctx, config, listeners, log_dir);
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
