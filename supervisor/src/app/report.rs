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
                } else {
                    tracing::warn!(%app, instance, pid, %status, uptime_ms, failed_start, "worker exited");
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
            }
            Report::RolloutComplete => tracing::info!(%app, "reload complete"),
            Report::RolloutStopped { reason } => {
                tracing::error!(%app, %reason, "reload stopped; the old workers keep serving");
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
