//! A worker that is gone: what its slot does next, and why, in words.

use tokio::time::Instant;

use super::policy::Decision;
use super::{App, Phase, Reason, Report, Worker, WorkerId};
use crate::reaper::ExitStatus;

impl App {
    /// A worker is gone (reaped, or never spawned): update its slot.
    pub(super) fn on_exit(&mut self, id: WorkerId, status: Option<ExitStatus>, now: Instant) {
        let Some(w) = self.workers.remove(&id) else {
            return;
        };
        let uptime = now.saturating_duration_since(w.started);
        let expected = w.phase.stopping();
        let was_online = w.online_since.is_some();
        if let Some(status) = status {
            self.report(Report::Exited {
                worker: id,
                status,
                uptime,
                expected,
                failed_start: !was_online && !expected,
            });
        }
        if let Some(r) = self.rollout.as_mut().filter(|r| r.draining == Some(id)) {
            r.draining = None;
        }
        let index = w.slot;
        let why = self.failure(&w, status);
        let stable = self.params.restart.stable(was_online, uptime);
        let shutting_down = self.shutting_down;
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        if slot.incoming == Some(id) {
            slot.incoming = None;
            if !expected {
                self.replacement_failed(index, why, now);
            }
        } else if slot.current == Some(id) {
            slot.current = slot.incoming.take();
            if slot.current.is_some() {
                // The replacement on its way takes the slot over.
                slot.replace = None;
            } else if !expected && !shutting_down {
                self.on_crash(index, stable, why, now);
            }
        }
    }

    /// Why a worker that was not told to stop is gone, in a phrase.
    pub(super) fn failure(&self, w: &Worker, status: Option<ExitStatus>) -> String {
        if let Some(error) = &w.start_error {
            return format!("cannot start: {error}");
        }
        let status = status.map_or_else(|| "no status".to_owned(), |s| s.to_string());
        match w.phase {
            Phase::Killed { not_ready: true } => format!(
                "was not ready within listen_timeout ({})",
                humantime::format_duration(w.ready_by - w.started)
            ),
            Phase::Launching => format!("exited ({status}) before it was online"),
            _ => format!("exited ({status})"),
        }
    }

    pub(super) fn on_crash(&mut self, index: usize, stable: bool, why: String, now: Instant) {
        let slot = &mut self.slots[index];
        match slot.tracker.on_exit(&self.params.restart, stable) {
            Decision::Restart { delay } => {
                slot.start_at = Some(now + delay);
                slot.start_reason = Some(Reason::Crash);
                let unstable = slot.unstable();
                self.report(Report::Restarting {
                    slot: index,
                    delay,
                    unstable,
                });
            }
            Decision::GiveUp => {
                let message = if why.starts_with("cannot start") {
                    format!("instance {index} {why}")
                } else {
                    format!(
                        "instance {index} failed {} times in a row; the last {why}",
                        slot.unstable()
                    )
                };
                self.give_up(index, message);
            }
            Decision::Stay => {
                slot.start_at = None;
                self.report(Report::StaysStopped { slot: index });
            }
        }
    }

    pub(super) fn replacement_failed(&mut self, index: usize, why: String, now: Instant) {
        let slot = &mut self.slots[index];
        let reason = match slot.replace {
            Some(Reason::Reload) | None => {
                slot.replace = None;
                return self.abort_rollout(format!("new worker for instance {index} {why}"));
            }
            Some(reason) => reason,
        };
        match slot.tracker.on_failed_replacement(&self.params.restart) {
            Decision::Restart { delay } => {
                slot.start_at = Some(now + delay);
                self.report(Report::ReplacementFailed {
                    slot: index,
                    reason,
                    error: why,
                    delay,
                });
            }
            Decision::GiveUp | Decision::Stay => {
                let message = format!(
                    "instance {index}: its {reason} replacement failed {} times in a row \
                     (the worker it replaces keeps running); the last {why}",
                    slot.unstable()
                );
                self.give_up(index, message);
            }
        }
    }

    pub(super) fn give_up(&mut self, index: usize, message: String) {
        let slot = &mut self.slots[index];
        slot.errored = Some(message.clone());
        slot.start_at = None;
        self.note = Some(message.clone());
        self.report(Report::Errored {
            slot: index,
            message,
        });
    }
}
