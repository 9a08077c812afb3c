//! A fake world for the state machine: it keeps the processes the machine
//! spawned, a clock the test moves, and every action so far.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::lifecycle::policy::RestartPolicy;
use crate::lifecycle::{
    Action, App, Event, Params, Phase, Readiness, Reason, Report, Sample, StopCause, WorkerId,
};
use crate::reaper::ExitStatus;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `instances` slots, `wait_ready`, 3 s to be ready, 1 s `min_uptime`,
/// backoff from 100 ms, 5 s to drain, nothing watched.
pub fn params(instances: usize) -> Params {
    Params {
        instances,
        readiness: Readiness::Notify,
        listen_timeout: ms(3000),
        restart: RestartPolicy {
            autorestart: true,
            min_uptime: ms(1000),
            max_restarts: 16,
            restart_delay: Duration::ZERO,
            exp_backoff: Some(ms(100)),
        },
        kill_timeout: ms(5000),
        health: None,
        memory: None,
        sample_interval: ms(1000),
        watchdog: None,
    }
}

/// A process the machine spawned and the world has not reaped yet.
#[derive(Debug, Clone)]
pub struct Proc {
    pub generation: u64,
    /// It was told to stop (kill_signal).
    pub stopped: bool,
    /// It was SIGKILLed.
    pub killed: bool,
}

pub struct Harness {
    pub app: App,
    pub now: Instant,
    pub actions: Vec<Action>,
    pub procs: BTreeMap<WorkerId, Proc>,
    generation: u64,
}

impl Harness {
    /// An app started at a fresh instant.
    pub fn start(params: Params) -> Self {
        let now = Instant::now();
        let mut h = Self {
            app: App::new(params, now),
            now,
            actions: Vec::new(),
            procs: BTreeMap::new(),
            generation: 0,
        };
        h.handle(Event::Tick);
        h
    }

    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        let actions = self.app.handle(event, self.now);
        for action in &actions {
            match *action {
                Action::Spawn {
                    worker, generation, ..
                } => {
                    self.procs.insert(
                        worker,
                        Proc {
                            generation,
                            stopped: false,
                            killed: false,
                        },
                    );
                }
                Action::Stop { worker, .. } => {
                    if let Some(p) = self.procs.get_mut(&worker) {
                        p.stopped = true;
                    }
                }
                Action::Kill { worker, .. } => {
                    if let Some(p) = self.procs.get_mut(&worker) {
                        p.killed = true;
                    }
                }
                _ => {}
            }
        }
        self.actions.extend(actions.iter().cloned());
        actions
    }

    /// Moves the clock on and lets due timers fire.
    pub fn advance(&mut self, by: Duration) -> Vec<Action> {
        self.now += by;
        self.handle(Event::Tick)
    }

    /// Moves the clock to the machine's next deadline, if any.
    pub fn until_deadline(&mut self) -> Option<Vec<Action>> {
        let at = self.app.deadline()?;
        self.now = self.now.max(at);
        Some(self.handle(Event::Tick))
    }

    pub fn ready(&mut self, worker: WorkerId) -> Vec<Action> {
        self.handle(Event::Ready(worker))
    }

    /// The process exits (or is reaped after a kill) with `status`.
    pub fn exit(&mut self, worker: WorkerId, status: ExitStatus) -> Vec<Action> {
        self.procs.remove(&worker);
        self.handle(Event::Exited { worker, status })
    }

    /// The process exits 0, as a drained worker does.
    pub fn exit_ok(&mut self, worker: WorkerId) -> Vec<Action> {
        self.exit(worker, ExitStatus::Code(0))
    }

    /// Every stopped or killed process exits.
    pub fn reap_stopped(&mut self) {
        let gone: Vec<WorkerId> = self
            .procs
            .iter()
            .filter(|(_, p)| p.stopped || p.killed)
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            self.exit_ok(id);
        }
    }

    pub fn reload(&mut self, params: Params) -> Vec<Action> {
        self.generation += 1;
        self.handle(Event::Reload {
            params: Box::new(params),
            generation: self.generation,
        })
    }

    pub fn probe(&mut self, worker: WorkerId, ok: bool) -> Vec<Action> {
        let outcome = if ok { Ok(()) } else { Err("HTTP 500".into()) };
        self.handle(Event::Probed { worker, outcome })
    }

    pub fn sample(&mut self, samples: &[(WorkerId, u64)]) -> Vec<Action> {
        let samples = samples
            .iter()
            .map(|&(id, pss)| {
                let cpu = Duration::ZERO;
                (id, Sample { pss, cpu })
            })
            .collect();
        self.handle(Event::Sampled(samples))
    }

    /// The slot's current worker.
    pub fn current(&self, slot: usize) -> Option<WorkerId> {
        self.app.slots()[slot].current
    }

    /// The slot's incoming worker.
    pub fn incoming(&self, slot: usize) -> Option<WorkerId> {
        self.app.slots()[slot].incoming
    }

    pub fn phase(&self, worker: WorkerId) -> Option<Phase> {
        self.app.workers().get(&worker).map(|w| w.phase)
    }

    /// Workers counted as serving capacity.
    pub fn serving(&self) -> usize {
        self.app.workers().values().filter(|w| w.serving()).count()
    }

    /// The newest worker spawned for `slot`.
    pub fn last_spawn(&self, slot: usize) -> Option<WorkerId> {
        self.spawns()
            .into_iter()
            .rev()
            .find(|s| s.1 == slot)
            .map(|s| s.0)
    }

    /// Every spawn so far: worker, slot, reason.
    pub fn spawns(&self) -> Vec<(WorkerId, usize, Option<Reason>)> {
        self.actions
            .iter()
            .filter_map(|a| match *a {
                Action::Spawn {
                    worker,
                    slot,
                    reason,
                    ..
                } => Some((worker, slot, reason)),
                _ => None,
            })
            .collect()
    }

    /// Every stop so far: worker and cause.
    pub fn stops(&self) -> Vec<(WorkerId, StopCause)> {
        self.actions
            .iter()
            .filter_map(|a| match *a {
                Action::Stop { worker, cause } => Some((worker, cause)),
                _ => None,
            })
            .collect()
    }

    /// Every report so far.
    pub fn reports(&self) -> Vec<Report> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Report(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    /// The delays of every restart so far, in order.
    pub fn restart_delays(&self) -> Vec<Duration> {
        self.reports()
            .into_iter()
            .filter_map(|r| match r {
                Report::Restarting { delay, .. } | Report::ReplacementFailed { delay, .. } => {
                    Some(delay)
                }
                _ => None,
            })
            .collect()
    }

    /// Starts every slot's worker and makes it ready.
    pub fn all_ready(&mut self) {
        let launching: Vec<WorkerId> = self
            .app
            .workers()
            .values()
            .filter(|w| w.phase == Phase::Launching)
            .map(|w| w.id)
            .collect();
        for id in launching {
            self.ready(id);
        }
    }

    pub fn generation(&self, worker: WorkerId) -> Option<u64> {
        self.procs.get(&worker).map(|p| p.generation)
    }
}
