//! The state machine of one app: [`App::handle`] takes an event and the
//! current instant, updates the state and returns the actions to carry out.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::rollout::Rollout;
use super::{Action, AppState, Event, Params, Readiness, Reason, Report, Slot, Worker, WorkerId};

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
    pub(super) shutting_down: bool,
    /// Stopped by an operator (`corral stop`) until `corral start`.
    pub(super) halted: bool,
    pub(super) next_id: WorkerId,
    pub(super) next_sample: Instant,
    pub(super) sampling: bool,
    pub(super) note: Option<String>,
    /// Workers started in place of others since the app started, by reason.
    pub(super) restarts: BTreeMap<Reason, u32>,
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
            halted: false,
            next_id: 0,
            sampling: false,
            note: None,
            restarts: BTreeMap::new(),
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
            Event::Stop => self.halt(now),
            Event::Start => self.resume(now),
            Event::Restart => self.restart(now),
            Event::Scale(instances) => self.scale(instances, now),
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
        if self.shutting_down || self.halted {
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

    /// Workers started in place of others so far, by reason.
    pub fn restarts(&self) -> &BTreeMap<Reason, u32> {
        &self.restarts
    }

    /// Counts a worker started in slot `index` in place of another.
    pub(super) fn count_restart(&mut self, index: usize, reason: Reason) {
        if let Some(slot) = self.slots.get_mut(index) {
            slot.restarts += 1;
            slot.last_reason = Some(reason);
        }
        *self.restarts.entry(reason).or_default() += 1;
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
}
