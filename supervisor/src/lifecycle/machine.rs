//! The state machine of one app: [`App::handle`] takes an event and the
//! current instant, updates the state and returns the actions to carry out.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::policy::Decision;
use super::rollout::Rollout;
use super::{
    Action, AppState, Event, KillCause, Params, Phase, Readiness, Reason, Report, Sample, Slot,
    StopCause, Worker, WorkerId,
};
use crate::reaper::ExitStatus;

/// While a worker launches, its health is probed this often (or at the
/// configured interval, if shorter), so it is online soon after it can serve.
pub const LAUNCH_PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// The lifecycle state of one app.
#[derive(Debug)]
pub struct App {
    pub(super) params: Params,
    /// The config generation new workers start with.
    pub(super) generation: u64,
    /// The config before the rollout in progress, put back if it stops.
    pub(super) previous: Option<(Params, u64)>,
    pub(super) slots: Vec<Slot>,
    pub(super) workers: BTreeMap<WorkerId, Worker>,
    pub(super) rollout: Option<Rollout>,
    shutting_down: bool,
    next_id: WorkerId,
    next_sample: Instant,
    sampling: bool,
    pub(super) note: Option<String>,
    pub(super) out: Vec<Action>,
}

impl App {
    /// An app whose workers all start at `now`, with config generation 0.
    pub fn new(params: Params, now: Instant) -> Self {
        let slots = (0..params.instances)
            .map(|_| Slot::starting(now, None))
            .collect();
        Self {
            next_sample: now + params.sample_interval,
            params,
            generation: 0,
            previous: None,
            slots,
            workers: BTreeMap::new(),
            rollout: None,
            shutting_down: false,
            next_id: 0,
            sampling: false,
            note: None,
            out: Vec::new(),
        }
    }

    /// Applies `event` at `now` and returns what to do. Timers that are due
    /// at `now` fire whatever the event, so [`Event::Tick`] at
    /// [`App::deadline`] is all the clock needs.
    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        match event {
            Event::Tick => {}
            Event::SpawnFailed { worker, error } => {
                self.start_failed(worker, error);
                self.on_exit(worker, None, now);
            }
            // The exit follows and decides; the error explains it.
            Event::ExecFailed { worker, error } => self.start_failed(worker, error),
            Event::Ready(worker) => {
                if self
                    .workers
                    .get(&worker)
                    .is_some_and(|w| w.readiness == Readiness::Notify)
                {
                    self.go_online(worker, now);
                }
            }
            Event::Heartbeat(worker) => {
                let period = self.params.watchdog;
                if let Some(w) = self.workers.get_mut(&worker).filter(|w| w.serving()) {
                    w.watchdog_due = period.map(|p| now + p);
                }
            }
            Event::Exited { worker, status } => self.on_exit(worker, Some(status), now),
            Event::Probed { worker, outcome } => self.on_probed(worker, outcome, now),
            Event::Sampled(samples) => self.on_sampled(samples, now),
            Event::Reload { params, generation } => self.reload(*params, generation, now),
            Event::Shutdown => self.shutdown(now),
        }
        self.settle(now);
        std::mem::take(&mut self.out)
    }

    /// When the next timer fires; `None` when nothing waits on the clock.
    pub fn deadline(&self) -> Option<Instant> {
        let workers = self.workers.values().filter_map(|w| {
            let probe = w.next_probe.filter(|_| self.probe_wanted(w));
            [w.deadline(), probe, self.stable_at(w)]
                .into_iter()
                .flatten()
                .min()
        });
        let slots = self
            .slots
            .iter()
            .filter(|_| !self.shutting_down)
            .filter_map(Slot::deadline);
        let sample = (!self.sampling && !self.shutting_down && !self.workers.is_empty())
            .then_some(self.next_sample);
        workers.chain(slots).chain(sample).min()
    }

    /// Whether the app stopped for good: shut down and every worker reaped.
    pub fn finished(&self) -> bool {
        self.shutting_down && self.workers.is_empty()
    }

    /// The app's state as a whole.
    pub fn state(&self) -> AppState {
        let serving = |s: &Slot| {
            s.current
                .and_then(|id| self.workers.get(&id))
                .is_some_and(Worker::serving)
        };
        if self.shutting_down {
            if self.workers.is_empty() {
                AppState::Stopped
            } else {
                AppState::Stopping
            }
        } else if self.slots.iter().any(|s| s.errored.is_some()) {
            AppState::Errored
        } else if self.workers.is_empty() && self.slots.iter().all(|s| s.start_at.is_none()) {
            AppState::Stopped
        } else if self.slots.iter().all(serving) {
            AppState::Online
        } else {
            AppState::Launching
        }
    }

    /// Every live worker process, by id.
    pub fn workers(&self) -> &BTreeMap<WorkerId, Worker> {
        &self.workers
    }

    /// The slots, by instance number.
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// The config generation new workers start with.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The generation a stopped rollout would go back to, if one is running.
    pub fn previous_generation(&self) -> Option<u64> {
        self.previous.as_ref().map(|(_, generation)| *generation)
    }

    /// Why the last reload stopped, or why the app is errored.
    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    fn start_failed(&mut self, worker: WorkerId, error: String) {
        if let Some(w) = self.workers.get_mut(&worker) {
            w.start_error = Some(error.clone());
            let slot = w.slot;
            self.report(Report::StartFailed {
                worker,
                slot,
                error,
            });
        }
    }

    pub(super) fn report(&mut self, report: Report) {
        self.out.push(Action::Report(report));
    }

    /// When a serving worker will have proved its slot stable (resetting
    /// the backoff), if its slot has unstable restarts to forget.
    fn stable_at(&self, w: &Worker) -> Option<Instant> {
        let slot = self.slots.get(w.slot)?;
        (w.serving() && slot.current == Some(w.id) && slot.unstable() > 0)
            .then(|| w.started + self.params.restart.min_uptime)
    }

    fn probe_wanted(&self, w: &Worker) -> bool {
        !w.probing
            && match w.phase {
                Phase::Launching => w.readiness == Readiness::Health,
                Phase::Online => true,
                _ => false,
            }
    }

    /// Fires due timers, starts due workers and moves the rollout on.
    fn settle(&mut self, now: Instant) {
        let ids: Vec<WorkerId> = self.workers.keys().copied().collect();
        for id in ids {
            self.fire_timers(id, now);
        }
        self.maybe_sample(now);
        self.start_due_slots(now);
        self.advance_rollout();
        self.start_due_slots(now);
    }

    fn fire_timers(&mut self, id: WorkerId, now: Instant) {
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
        if let Some(w) = self.workers.get(&id)
            && self.probe_wanted(w)
            && due(w.next_probe)
        {
            self.workers.get_mut(&id).expect("listed").probing = true;
            self.out.push(Action::Probe(id));
        }
    }

    fn maybe_sample(&mut self, now: Instant) {
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

    fn start_due_slots(&mut self, now: Instant) {
        if self.shutting_down {
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
                if reason.is_some_and(|r| r != Reason::Scale) {
                    slot.restarts += 1;
                    slot.last_reason = reason;
                }
            }
        }
    }

    fn spawn(&mut self, slot: usize, reason: Option<Reason>, now: Instant) -> WorkerId {
        let id = self.next_id;
        self.next_id += 1;
        let mut worker = Worker::new(id, slot, self.generation, reason, now, &self.params);
        if self.params.readiness == Readiness::Health {
            let interval = self.params.health.map_or(LAUNCH_PROBE_INTERVAL, |h| {
                h.interval.min(LAUNCH_PROBE_INTERVAL)
            });
            worker.next_probe = Some(now + interval);
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
    fn promote(&mut self, index: usize, now: Instant) {
        let slot = &mut self.slots[index];
        let Some(new) = slot.incoming.take() else {
            return;
        };
        let reason = slot.replace.take().unwrap_or(Reason::Reload);
        let old = slot.current.replace(new);
        slot.restarts += 1;
        slot.last_reason = Some(reason);
        slot.start_at = None;
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

    fn kill(&mut self, id: WorkerId, why: KillCause) {
        let Some(w) = self.workers.get_mut(&id) else {
            return;
        };
        w.phase = Phase::Killed {
            not_ready: why == KillCause::NotReady,
        };
        w.next_probe = None;
        self.out.push(Action::Kill { worker: id, why });
    }

    fn make_unresponsive(&mut self, id: WorkerId, reason: Reason, detail: String) {
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
    fn condemn(&mut self, index: usize, id: WorkerId, reason: Reason) {
        if let Some(slot) = self
            .slots
            .get_mut(index)
            .filter(|s| s.current == Some(id) && s.replace.is_none())
        {
            slot.replace = Some(reason);
        }
    }

    fn on_probed(&mut self, id: WorkerId, outcome: Result<(), String>, now: Instant) {
        let health = self.params.health;
        let Some(w) = self.workers.get_mut(&id) else {
            return;
        };
        w.probing = false;
        let Some(health) = health else {
            w.next_probe = None;
            return;
        };
        w.last_probe = Some(outcome.clone());
        match (w.phase, outcome) {
            (Phase::Launching, Ok(())) if w.readiness == Readiness::Health => {
                self.go_online(id, now)
            }
            (Phase::Launching, _) => {
                w.next_probe = Some(now + health.interval.min(LAUNCH_PROBE_INTERVAL));
            }
            (Phase::Online, Ok(())) => {
                w.health_failures = 0;
                w.next_probe = Some(now + health.interval);
            }
            (Phase::Online, Err(detail)) => {
                w.next_probe = Some(now + health.interval);
                if now < w.started + health.grace_period {
                    return;
                }
                w.health_failures += 1;
                let failures = w.health_failures;
                self.report(Report::HealthFailed {
                    worker: id,
                    failures,
                    detail: detail.clone(),
                });
                if failures >= health.failures {
                    let detail =
                        format!("{failures} health checks failed in a row; last: {detail}");
                    self.make_unresponsive(id, Reason::Health, detail);
                }
            }
            _ => w.next_probe = None,
        }
    }

    fn on_sampled(&mut self, samples: Vec<(WorkerId, Sample)>, now: Instant) {
        self.sampling = false;
        let limit = self.params.memory.map(|m| (m.bytes, m.samples));
        for (id, sample) in samples {
            let Some(w) = self.workers.get_mut(&id) else {
                continue;
            };
            if !w.record_sample(sample, now, limit) {
                continue;
            }
            let (slot, over) = (w.slot, w.memory_over);
            let wanted = self
                .slots
                .get(slot)
                .is_some_and(|s| s.current == Some(id) && s.replace.is_none());
            if let (true, Some((bytes, _))) = (wanted, limit) {
                let detail = format!(
                    "PSS {} over the {} limit on {over} samples in a row",
                    mib(sample.pss),
                    mib(bytes)
                );
                self.report(Report::Replacing {
                    worker: id,
                    reason: Reason::Memory,
                    detail,
                });
                self.condemn(slot, id, Reason::Memory);
            }
        }
    }

    /// A worker is gone (reaped, or never spawned): update its slot.
    fn on_exit(&mut self, id: WorkerId, status: Option<ExitStatus>, now: Instant) {
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
    fn failure(&self, w: &Worker, status: Option<ExitStatus>) -> String {
        if let Some(error) = &w.start_error {
            return format!("cannot start: {error}");
        }
        let status = status.map_or_else(|| "no status".to_owned(), |s| s.to_string());
        match w.phase {
            Phase::Killed { not_ready: true } => format!(
                "was not ready within listen_timeout ({})",
                humantime::format_duration(self.params.listen_timeout)
            ),
            Phase::Launching => format!("exited ({status}) before it was online"),
            _ => format!("exited ({status})"),
        }
    }

    fn on_crash(&mut self, index: usize, stable: bool, why: String, now: Instant) {
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

    fn replacement_failed(&mut self, index: usize, why: String, now: Instant) {
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

    fn give_up(&mut self, index: usize, message: String) {
        let slot = &mut self.slots[index];
        slot.errored = Some(message.clone());
        slot.start_at = None;
        self.note = Some(message.clone());
        self.report(Report::Errored {
            slot: index,
            message,
        });
    }

    fn shutdown(&mut self, now: Instant) {
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

    pub(super) fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }
}

/// Bytes as MiB with one decimal, for messages.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
