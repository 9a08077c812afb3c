//! Stopping everything: `shutdown_delay` passes (the admin listener's
//! `/health` already fails, so a load balancer stops sending traffic while
//! the workers still serve), every app drains, then the last log lines are
//! written, then the supervisor exits.

use std::time::Duration;

use nix::unistd::Pid;
use tokio::signal::unix::Signal;
use tokio_util::task::TaskTracker;

use super::{Daemon, LOG_FLUSH_BOUND};
use crate::app::AppContext;
use crate::telemetry;

impl Daemon {
    /// SIGTERM/SIGINT: after `shutdown_delay`, every app drains, apps
    /// removed earlier included. A second signal during the delay ends it;
    /// one during the drain kills every worker at once, for an operator who
    /// cannot wait for `kill_timeout`.
    pub(super) async fn shutdown(self, tracker: TaskTracker, mut signals: [Signal; 2]) {
        self.reported.stopping();
        let [term, int] = &mut signals;
        let delay = self
            .current
            .as_ref()
            .map_or(Duration::ZERO, |eco| eco.supervisor.shutdown_delay);
        if !delay.is_zero() {
            tracing::info!(
                delay = %humantime::format_duration(delay),
                "shutdown delay: /health fails, the workers serve on until it ends"
            );
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = term.recv() => tracing::info!("second stop signal: shutdown delay skipped"),
                _ = int.recv() => tracing::info!("second stop signal: shutdown delay skipped"),
            }
        }
        tracing::info!("shutting down: stopping every worker");
        let stops: Vec<_> = self
            .apps
            .into_values()
            .map(|app| tokio::spawn(app.shutdown()))
            .collect();
        self.removed.close();
        let removed = self.removed;
        let all_stopped = async move {
            futures_join(stops).await;
            removed.wait().await;
        };
        tokio::pin!(all_stopped);
        // Workers get SIGKILL at kill_timeout; this bound only guards against
        // a process the kernel cannot kill (stuck in uninterruptible I/O).
        let deadline = tokio::time::sleep(self.kill_timeout + Duration::from_secs(5));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut all_stopped => break,
                () = &mut deadline => {
                    tracing::error!("some workers did not exit even after SIGKILL");
                    break;
                }
                _ = term.recv() => kill_every_worker(&self.ctx),
                _ = int.recv() => kill_every_worker(&self.ctx),
            }
        }
        tracker.close();
        if tokio::time::timeout(LOG_FLUSH_BOUND, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "worker output still open after every worker exited; the last lines may be missing"
            );
        }
        if !self.ctx.compressor.flush(LOG_FLUSH_BOUND) {
            tracing::warn!(
                "rotated log files still being compressed; the next start finishes them"
            );
        }
        tracing::info!("supervisor stopped");
        telemetry::close_file(LOG_FLUSH_BOUND);
    }
}

/// SIGKILLs the whole tree of every live worker.
fn kill_every_worker(ctx: &AppContext) {
    tracing::warn!("second stop signal: killing every worker now");
    let fleet = ctx.fleet.borrow();
    for worker in fleet.values().flat_map(|app| &app.workers) {
        ctx.launcher.table.kill_tree(Pid::from_raw(worker.pid));
    }
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in tasks {
        let _ = task.await;
    }
}
