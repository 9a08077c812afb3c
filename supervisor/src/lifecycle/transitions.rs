//! A worker's moves from one phase to the next: online, promoted over the
//! worker it replaces, drained, killed, found unresponsive.

use tokio::time::Instant;

use super::{Action, App, KillCause, Phase, Reason, Report, StopCause, WorkerId};

impl App {
    pub(super) fn go_online(&mut self, id: WorkerId, now: Instant) {
        let (watchdog, health) = (self.params.watchdog, self.params.health);
        let Some(w) = self
            .workers
            .get_mut(&id)
            .filter(|w| w.phase == Phase::Launching)
        else {
            return;
        };
        w.phase = Phase::Online;
        w.online_since = Some(now);
        w.watchdog_due = watchdog.map(|p| now + p);
        w.next_probe = health.map(|h| now + h.interval);
        let slot = w.slot;
        self.report(Report::Online(id));
        if self.slots.get(slot).is_some_and(|s| s.incoming == Some(id)) {
            self.promote(slot, now);
        }
    }

    /// The slot's incoming worker is online: it takes over, and the worker
    /// it replaces drains.
    pub(super) fn promote(&mut self, index: usize, now: Instant) {
        let slot = &mut self.slots[index];
        let Some(new) = slot.incoming.take() else {
            return;
        };
        let reason = slot.replace.take().unwrap_or(Reason::Reload);
        let old = slot.current.replace(new);
        slot.start_at = None;
        self.count_restart(index, reason);
        if let Some(old) = old {
            self.stop(old, StopCause::Replaced(reason), now);
            if let Some(rollout) = self.rollout.as_mut().filter(|r| r.slot == Some(index)) {
                rollout.slot = None;
                rollout.draining = Some(old);
            }
        }
    }

    pub(super) fn stop(&mut self, id: WorkerId, cause: StopCause, now: Instant) {
        let Some(w) = self.workers.get_mut(&id).filter(|w| w.running()) else {
            return;
        };
        w.phase = Phase::Draining {
            cause,
            kill_at: now + w.kill_timeout,
        };
        w.next_probe = None;
        w.watchdog_due = None;
        self.out.push(Action::Stop { worker: id, cause });
    }

    pub(super) fn kill(&mut self, id: WorkerId, why: KillCause) {
        let Some(w) = self.workers.get_mut(&id) else {
            return;
        };
        w.phase = Phase::Killed {
            not_ready: why == KillCause::NotReady,
        };
        w.next_probe = None;
        self.out.push(Action::Kill { worker: id, why });
    }

    pub(super) fn make_unresponsive(&mut self, id: WorkerId, reason: Reason, detail: String) {
        let Some(w) = self.workers.get_mut(&id).filter(|w| w.serving()) else {
            return;
        };
        w.phase = Phase::Unresponsive(reason);
        w.next_probe = None;
        w.watchdog_due = None;
        let slot = w.slot;
        self.report(Report::Replacing {
            worker: id,
            reason,
            detail,
        });
        self.condemn(slot, id, reason);
    }

    /// Asks for the slot's current worker `id` to be replaced for `reason`,
    /// unless a replacement is already wanted.
    pub(super) fn condemn(&mut self, index: usize, id: WorkerId, reason: Reason) {
        if let Some(slot) = self
            .slots
            .get_mut(index)
            .filter(|s| s.current == Some(id) && s.replace.is_none())
        {
            slot.replace = Some(reason);
        }
    }

    pub(super) fn shutdown(&mut self, now: Instant) {
        self.shutting_down = true;
        self.rollout = None;
        // The slots are emptied: nothing fills them any more.
        for slot in &mut self.slots {
            slot.current = None;
            slot.incoming = None;
            slot.replace = None;
            slot.start_at = None;
        }
        let ids: Vec<WorkerId> = self.workers.keys().copied().collect();
        for id in ids {
            self.stop(id, StopCause::Shutdown, now);
        }
    }
}
