//! The clock's side of the lifecycle: timers that fire, samples that are
//! due, and the workers that due slots start.

use tokio::time::Instant;

use super::machine::LAUNCH_PROBE_INTERVAL;
use super::{Action, App, KillCause, Phase, Readiness, Reason, Worker, WorkerId};

impl App {
    /// Fires due timers, starts due workers and moves the rollout on.
    pub(super) fn settle(&mut self, now: Instant) {
        let ids: Vec<WorkerId> = self.workers.keys().copied().collect();
        for id in ids {
            self.fire_timers(id, now);
        }
        self.maybe_sample(now);
        self.start_due_slots(now);
        self.advance_rollout();
        self.start_due_slots(now);
    }

    pub(super) fn fire_timers(&mut self, id: WorkerId, now: Instant) {
        let Some(w) = self.workers.get(&id) else {
            return;
        };
        let due = |at: Option<Instant>| at.is_some_and(|at| at <= now);
        match w.phase {
            Phase::Launching if w.ready_by <= now => match w.readiness {
                Readiness::Uptime => self.go_online(id, now),
                Readiness::Notify | Readiness::Health => self.kill(id, KillCause::NotReady),
            },
            Phase::Online if due(w.watchdog_due) => {
                let period = self.params.watchdog.unwrap_or_default();
                let detail = format!("no WATCHDOG=1 for {}", humantime::format_duration(period));
                self.make_unresponsive(id, Reason::Watchdog, detail);
            }
            Phase::Draining { kill_at, .. } if kill_at <= now => {
                self.kill(id, KillCause::DrainTimeout);
            }
            _ => {}
        }
        if let Some(w) = self.workers.get(&id)
            && due(self.stable_at(w))
        {
            let slot = w.slot;
            self.slots[slot].tracker = Default::default();
        }
        // Probes keep their cadence from when each was sent, not from its
        // answer: a worker that hangs every probe until its timeout is
        // still found out after `failures` intervals.
        let (launching, online) = self.probe_cadence();
        let wanted = |w: &&Worker| self.probe_wanted(w) && due(w.next_probe);
        if self.workers.get(&id).filter(wanted).is_some() {
            let w = self.workers.get_mut(&id).expect("listed");
            let every = if w.phase == Phase::Launching {
                launching
            } else {
                online
            };
            w.probing = true;
            w.next_probe = Some(now + every);
            self.out.push(Action::Probe(id));
        }
    }

    /// When a serving worker will have proved its slot stable (resetting
    /// the backoff), if its slot has unstable restarts to forget.
    pub(super) fn stable_at(&self, w: &Worker) -> Option<Instant> {
        let slot = self.slots.get(w.slot)?;
        (w.serving() && slot.current == Some(w.id) && slot.unstable() > 0)
            .then(|| w.started + self.params.restart.min_uptime)
    }

    /// How often a launching and an online worker are probed.
    pub(super) fn probe_cadence(&self) -> (std::time::Duration, std::time::Duration) {
        let interval = self
            .params
            .health
            .map_or(LAUNCH_PROBE_INTERVAL, |h| h.interval);
        (interval.min(LAUNCH_PROBE_INTERVAL), interval)
    }

    pub(super) fn probe_wanted(&self, w: &Worker) -> bool {
        !w.probing
            && match w.phase {
                Phase::Launching => w.readiness == Readiness::Health,
                Phase::Online => true,
                _ => false,
            }
    }

    pub(super) fn maybe_sample(&mut self, now: Instant) {
        if self.sampling || self.shutting_down || now < self.next_sample {
            return;
        }
        self.next_sample = now + self.params.sample_interval;
        let ids: Vec<WorkerId> = self
            .workers
            .values()
            .filter(|w| !matches!(w.phase, Phase::Killed { .. }))
            .map(|w| w.id)
            .collect();
        if !ids.is_empty() {
            self.sampling = true;
            self.out.push(Action::Sample(ids));
        }
    }

    pub(super) fn start_due_slots(&mut self, now: Instant) {
        if self.shutting_down || self.halted {
            return;
        }
        for index in 0..self.slots.len() {
            // An unresponsive worker is always being replaced, even after a
            // rollout that wanted its slot for itself stopped.
            let slot = &self.slots[index];
            if let Some(Phase::Unresponsive(reason)) = slot
                .current
                .and_then(|id| self.workers.get(&id))
                .map(|w| w.phase)
                && slot.replace.is_none()
            {
                self.slots[index].replace = Some(reason);
            }
            let slot = &self.slots[index];
            if !slot.due(now) {
                continue;
            }
            let incoming = slot.current.is_some();
            let reason = if incoming {
                slot.replace
            } else {
                slot.start_reason
            };
            let id = self.spawn(index, reason, now);
            let slot = &mut self.slots[index];
            slot.start_at = None;
            if incoming {
                slot.incoming = Some(id);
            } else {
                slot.current = Some(id);
                if let Some(reason) = reason.filter(|&r| r != Reason::Scale) {
                    self.count_restart(index, reason);
                }
            }
        }
    }

    pub(super) fn spawn(&mut self, slot: usize, reason: Option<Reason>, now: Instant) -> WorkerId {
        let id = self.next_id;
        self.next_id += 1;
        let mut worker = Worker::new(id, slot, self.generation, reason, now, &self.params);
        if self.params.readiness == Readiness::Health {
            worker.next_probe = Some(now + self.probe_cadence().0);
        }
        self.workers.insert(id, worker);
        self.out.push(Action::Spawn {
            worker: id,
            slot,
            generation: self.generation,
            reason,
        });
        id
    }
}
