//! What an operator asks of an app besides a reload: stop it, start it,
//! restart it all at once, or run another number of workers.

use tokio::time::Instant;

use super::{App, Reason, Slot, StopCause, WorkerId};

impl App {
    /// `corral stop`: every worker drains and the slots stay empty until
    /// `corral start`; a rollout in progress ends where it is.
    pub(super) fn halt(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        self.halted = true;
        self.rollout = None;
        self.previous = None;
        for slot in &mut self.slots {
            *slot = Slot {
                restarts: slot.restarts,
                last_reason: slot.last_reason,
                ..Slot::default()
            };
        }
        let ids: Vec<WorkerId> = self.workers.keys().copied().collect();
        for id in ids {
            self.stop(id, StopCause::Stopped, now);
        }
    }

    /// `corral start`: a stopped app gets a worker in every slot; in a
    /// running app, slots that gave up or stay empty start afresh.
    pub(super) fn resume(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        if self.halted {
            self.halted = false;
            self.slots.resize_with(self.params.instances, Slot::default);
        }
        for slot in &mut self.slots {
            let empty = slot.current.is_none() && slot.incoming.is_none();
            if slot.errored.is_some() || (empty && slot.start_at.is_none()) {
                *slot = Slot {
                    current: slot.current,
                    start_at: slot.current.is_none().then_some(now),
                    restarts: slot.restarts,
                    last_reason: slot.last_reason,
                    ..Slot::default()
                };
            }
        }
    }

    /// `corral restart`: every worker is stopped and a new one started in
    /// each slot at once, not new-first (use a reload for that). The
    /// backoff starts over; a rollout in progress ends.
    pub(super) fn restart(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        if self.halted {
            return self.resume(now);
        }
        self.rollout = None;
        self.previous = None;
        let mut old = Vec::new();
        for slot in &mut self.slots {
            old.extend(slot.current.into_iter().chain(slot.incoming));
            *slot = Slot {
                restarts: slot.restarts,
                last_reason: slot.last_reason,
                ..Slot::starting(now, Some(Reason::Manual))
            };
        }
        for id in old {
            self.stop(id, StopCause::Restarted, now);
        }
    }

    /// `corral scale N`: new slots start at once; the highest slots drain.
    /// The ecosystem file's `instances` comes back with the next reload.
    pub(super) fn scale(&mut self, instances: usize, now: Instant) {
        if self.shutting_down {
            return;
        }
        let instances = instances.max(1);
        self.params.instances = instances;
        if self.halted {
            return;
        }
        while self.slots.len() > instances {
            let slot = self.slots.pop().expect("more slots than wanted");
            for id in slot.current.into_iter().chain(slot.incoming) {
                self.stop(id, StopCause::ScaledDown, now);
            }
        }
        while self.slots.len() < instances {
            self.slots.push(Slot::starting(now, Some(Reason::Scale)));
        }
    }
}
