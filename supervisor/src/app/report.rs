//! What the lifecycle reports, written to the supervisor's log with the
//! app, instance and pid that operators (and the end-to-end tests) look
//! for.

use super::execute::ms;
use super::manager::Manager;
use crate::lifecycle::{Report, WorkerId};

impl Manager {
    pub(super) fn log(&mut self, report: Report) {
        let app = self.name.clone();
        match report {
            Report::Online(worker) => {
                let (instance, pid) = self.who(worker);
                tracing::info!(%app, instance, pid, "worker online");
                self.history.record(instance, Some(pid), "online".into());
            }
            Report::Exited {
                worker,
                status,
                uptime,
                expected,
                failed_start,
            } => {
                let (instance, pid) = self.who(worker);
                let uptime_ms = ms(uptime);
                if expected {
                    tracing::info!(%app, instance, pid, %status, uptime_ms, "worker stopped");
                    self.history
                        .record(instance, Some(pid), format!("stopped: {status}"));
                } else {
                    tracing::warn!(%app, instance, pid, %status, uptime_ms, failed_start, "worker exited");
                    let what = if failed_start {
                        "failed to start"
                    } else {
                        "exited"
                    };
                    self.history
                        .record(instance, Some(pid), format!("{what}: {status}"));
                }
                self.running.remove(&worker);
            }
            Report::StartFailed {
                worker,
                slot,
                error,
            } => {
                let pid = self.running.get(&worker).map(|r| r.handle.pid.as_raw());
                tracing::error!(%app, instance = slot, pid, %error, "worker cannot start");
                self.history
                    .record(slot, pid, format!("cannot start: {error}"));
            }
            Report::Restarting {
                slot,
                delay,
                unstable,
            } => {
                tracing::info!(%app, instance = slot, delay_ms = ms(delay), unstable, "restarting worker");
            }
            Report::ReplacementFailed {
                slot,
                reason,
                error,
                delay,
            } => {
                tracing::warn!(%app, instance = slot, %reason, %error, delay_ms = ms(delay), "replacement failed; the worker it replaces keeps running");
            }
            Report::Errored { slot, message } => {
                tracing::error!(%app, instance = slot, reason = %message, "app errored");
                self.history
                    .record(slot, None, format!("gave up: {message}"));
            }
            Report::StaysStopped { slot } => {
                tracing::info!(%app, instance = slot, "autorestart is off; worker stays stopped");
            }
            Report::HealthFailed {
                worker,
                failures,
                detail,
            } => {
                let (instance, pid) = self.who(worker);
                tracing::warn!(%app, instance, pid, failures, %detail, "health check failed");
            }
            Report::Replacing {
                worker,
                reason,
                detail,
            } => {
                let (instance, pid) = self.who(worker);
                tracing::warn!(%app, instance, pid, %reason, %detail, "replacing worker");
                self.history.record(
                    instance,
                    Some(pid),
                    format!("replacing ({reason}): {detail}"),
                );
            }
            Report::RolloutComplete => {
                tracing::info!(%app, "reload complete");
                self.rollout_completed();
            }
            Report::RolloutStopped { reason } => {
                tracing::error!(%app, %reason, "reload stopped; the old workers keep serving");
                self.rollout_failed(&format!("reload stopped: {reason}"));
            }
        }
    }

    /// The instance and pid of a worker that has a process, for log fields.
    fn who(&self, worker: WorkerId) -> (usize, i32) {
        self.running
            .get(&worker)
            .map_or((0, 0), |r| (r.handle.instance, r.handle.pid.as_raw()))
    }
}
