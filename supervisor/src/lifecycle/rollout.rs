//! Rolling reload: a new config applied one slot at a time, new worker
//! first, stopped (and the old config put back) by the first replacement
//! that fails.

use tokio::time::Instant;

use super::{App, Params, Reason, Report, Slot, StopCause, WorkerId};

/// A rollout in progress.
#[derive(Debug, Clone, Default)]
pub(super) struct Rollout {
    /// The next slot to look at.
    pub next: usize,
    /// The slot being replaced now.
    pub slot: Option<usize>,
    /// The old worker of the last replaced slot, still draining: the next
    /// slot waits for it, so at most one extra worker runs.
    pub draining: Option<WorkerId>,
}

impl App {
    /// Applies `params` as a new config generation and starts rolling it
    /// out. A rollout in progress is superseded: its replacement being
    /// started is stopped (never adopted half-way), an old worker still
    /// draining is waited for, and the new rollout starts from slot 0.
    pub(super) fn reload(&mut self, params: Params, generation: u64, now: Instant) {
        if self.shutting_down {
            return;
        }
        for index in 0..self.slots.len() {
            let slot = &mut self.slots[index];
            if let Some(incoming) = slot.incoming.take() {
                if slot.replace == Some(Reason::Reload) {
                    slot.replace = None;
                }
                slot.start_at = None;
                self.stop(incoming, StopCause::Superseded, now);
            }
        }
        let draining = self.rollout.take().and_then(|r| r.draining);
        let old = std::mem::replace(&mut self.params, params);
        // Only a config that every slot ran is known to work.
        if self.previous.is_none() {
            self.previous = Some((old, self.generation));
        }
        self.generation = generation;
        self.note = None;
        self.resize(now);
        self.rollout = Some(Rollout {
            draining,
            ..Rollout::default()
        });
    }

    /// Matches the slots to the new instance count, and gives every slot
    /// that gave up or stays empty a fresh start, so a reload always ends
    /// with a worker in every slot.
    fn resize(&mut self, now: Instant) {
        let wanted = self.params.instances;
        while self.slots.len() > wanted {
            let slot = self.slots.pop().expect("more slots than wanted");
            for id in slot.current.into_iter().chain(slot.incoming) {
                self.stop(id, StopCause::ScaledDown, now);
            }
        }
        while self.slots.len() < wanted {
            self.slots.push(Slot::starting(now, Some(Reason::Scale)));
        }
        for slot in &mut self.slots {
            let empty = slot.current.is_none() && slot.incoming.is_none();
            if slot.errored.is_some() || (empty && slot.start_at.is_none()) {
                *slot = Slot {
                    current: slot.current,
                    ..Slot::starting(now, Some(Reason::Reload))
                };
                if slot.current.is_some() {
                    slot.start_at = None;
                }
            }
        }
    }

    /// Moves the rollout on: waits for the slot being replaced and for the
    /// old worker draining, then marks the next slot whose worker runs an
    /// older config for replacement, or completes.
    pub(super) fn advance_rollout(&mut self) {
        let Some(rollout) = self.rollout.as_mut() else {
            return;
        };
        if let Some(old) = rollout.draining {
            if self.workers.contains_key(&old) {
                return;
            }
            rollout.draining = None;
        }
        if let Some(index) = rollout.slot {
            let busy = self.slots.get(index).is_some_and(|s| {
                s.errored.is_none() && (s.incoming.is_some() || s.replace.is_some())
            });
            if busy {
                return;
            }
            rollout.slot = None;
        }
        while rollout.next < self.slots.len() {
            let index = rollout.next;
            rollout.next += 1;
            let slot = &mut self.slots[index];
            let outdated = slot
                .current
                .and_then(|id| self.workers.get(&id))
                .is_some_and(|w| w.generation != self.generation);
            if !outdated || slot.errored.is_some() {
                continue;
            }
            // A replacement for another reason already started under the new
            // config serves this rollout too; otherwise start one now.
            if slot.incoming.is_none() {
                slot.replace.get_or_insert(Reason::Reload);
                slot.start_at = None;
            }
            rollout.slot = Some(index);
            return;
        }
        self.rollout = None;
        self.previous = None;
        self.report(Report::RolloutComplete);
    }

    /// Stops the rollout where it is and puts the last working config back,
    /// so workers restarted from now on run a config that works.
    pub(super) fn abort_rollout(&mut self, reason: String) {
        self.rollout = None;
        if let Some((params, generation)) = self.previous.take() {
            self.params = Params {
                instances: self.slots.len(),
                ..params
            };
            self.generation = generation;
        }
        self.note = Some(format!("reload stopped: {reason}"));
        self.report(Report::RolloutStopped { reason });
    }
}
