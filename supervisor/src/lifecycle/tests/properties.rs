//! Properties that hold for every sequence of events: capacity is never
//! given up for a replacement, one rollout at a time, backoff that only
//! grows while starts keep failing, and a fleet that settles with exactly
//! one worker per slot once the world behaves.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;

use super::harness::{Harness, ms, params};
use crate::lifecycle::policy::RestartPolicy;
use crate::lifecycle::{
    Action, Event, HealthParams, MemoryLimit, Params, Phase, Readiness, Reason, Report, StopCause,
    WorkerId,
};
use crate::reaper::ExitStatus;

/// Something that happens to the app, chosen at random.
#[derive(Debug, Clone)]
enum Op {
    /// Time passes.
    Advance(u64),
    /// The n-th launching worker says READY=1.
    Ready(usize),
    /// The n-th live process exits; `true`: exit 0, else a crash.
    Exit(usize, bool),
    /// The n-th outstanding probe is answered.
    Probe(usize, bool),
    /// Every live worker is sampled; `true`: over any limit.
    Sample(bool),
    /// The n-th live worker sends WATCHDOG=1.
    Heartbeat(usize),
    /// New spawns fail at once (`true`) or work again.
    Break(bool),
    /// A reload to this many instances.
    Reload(usize),
    /// An operator's `stop`, `start`, `restart` or `scale`.
    Verb(u8, usize),
    /// The app is stopped.
    Shutdown,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u64..3_000).prop_map(Op::Advance),
        4 => (0usize..4).prop_map(Op::Ready),
        2 => (0usize..6, any::<bool>()).prop_map(|(n, ok)| Op::Exit(n, ok)),
        3 => (0usize..4, any::<bool>()).prop_map(|(n, ok)| Op::Probe(n, ok)),
        2 => any::<bool>().prop_map(Op::Sample),
        2 => (0usize..4).prop_map(Op::Heartbeat),
        1 => any::<bool>().prop_map(Op::Break),
        1 => (1usize..4).prop_map(Op::Reload),
        1 => (0u8..4, 1usize..4).prop_map(|(verb, n)| Op::Verb(verb, n)),
        1 => Just(Op::Shutdown),
    ]
}

fn app_params() -> impl Strategy<Value = Params> {
    (
        1usize..4,
        0u8..3,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0u32..5,
    )
        .prop_map(
            |(instances, readiness, health, memory, watchdog, max_restarts)| {
                let readiness = match readiness {
                    0 => Readiness::Notify,
                    1 => Readiness::Uptime,
                    _ => Readiness::Health,
                };
                let health = health || readiness == Readiness::Health;
                Params {
                    readiness,
                    health: health.then_some(HealthParams {
                        interval: ms(500),
                        grace_period: ms(1000),
                        failures: 2,
                    }),
                    memory: memory.then_some(MemoryLimit {
                        bytes: 1000,
                        samples: 2,
                    }),
                    watchdog: watchdog.then_some(ms(2000)),
                    restart: RestartPolicy {
                        max_restarts,
                        ..params(1).restart
                    },
                    ..params(instances)
                }
            },
        )
}

/// The world around the machine: what it was asked to probe, and whether
/// spawns fail.
struct World {
    h: Harness,
    params: Params,
    probes: Vec<WorkerId>,
    broken: bool,
    /// Per slot, the last backoff delay since a worker of it was online.
    delays: BTreeMap<usize, Duration>,
    /// The slot of the worker whose exit is being applied.
    exiting: Option<usize>,
}

impl World {
    fn new(params: Params) -> Self {
        let mut world = Self {
            h: Harness::start(params.clone()),
            params,
            probes: Vec::new(),
            broken: false,
            delays: BTreeMap::new(),
            exiting: None,
        };
        let first = world.h.actions.clone();
        world.absorb(&first);
        world
    }

    fn live(&self) -> Vec<WorkerId> {
        self.h.procs.keys().copied().collect()
    }

    fn launching(&self) -> Vec<WorkerId> {
        self.h
            .app
            .workers()
            .values()
            .filter(|w| w.phase == Phase::Launching)
            .map(|w| w.id)
            .collect()
    }

    /// Applies one event and checks what must hold across it.
    fn apply(&mut self, event: Event) -> Result<(), TestCaseError> {
        if let Event::Exited { worker, .. } = event {
            self.exiting = self.h.app.workers().get(&worker).map(|w| w.slot);
        }
        let serving_before: BTreeSet<WorkerId> = self
            .h
            .app
            .workers()
            .values()
            .filter(|w| w.serving())
            .map(|w| w.id)
            .collect();
        let actions = self.h.handle(event);
        self.check_capacity(&serving_before, &actions)?;
        self.check_backoff(&actions)?;
        self.check_structure()?;
        self.absorb(&actions);
        Ok(())
    }

    /// Answers what the world answers at once: a broken spawn fails.
    fn absorb(&mut self, actions: &[Action]) {
        for action in actions {
            match *action {
                Action::Probe(worker) => self.probes.push(worker),
                Action::Spawn { worker, .. } if self.broken => {
                    self.h.procs.remove(&worker);
                    let failed = Event::SpawnFailed {
                        worker,
                        error: "no such file".into(),
                    };
                    // Fed back at once, as the manager does.
                    let more = self.h.handle(failed);
                    self.absorb(&more);
                }
                _ => {}
            }
        }
    }

    /// A serving worker is only stopped once its replacement serves, or for
    /// scaling down or shutdown.
    fn check_capacity(
        &self,
        serving_before: &BTreeSet<WorkerId>,
        actions: &[Action],
    ) -> Result<(), TestCaseError> {
        for action in actions {
            let (worker, cause) = match *action {
                Action::Stop { worker, cause } => (worker, Some(cause)),
                Action::Kill { worker, .. } => (worker, None),
                _ => continue,
            };
            if !serving_before.contains(&worker) {
                continue;
            }
            match cause {
                Some(
                    StopCause::ScaledDown
                    | StopCause::Shutdown
                    | StopCause::Stopped
                    | StopCause::Restarted,
                ) => {}
                Some(StopCause::Replaced(_)) => {
                    let slot = self.h.app.workers()[&worker].slot;
                    let successor = self.h.app.slots()[slot].current;
                    let serves = successor
                        .and_then(|id| self.h.app.workers().get(&id))
                        .is_some_and(|w| w.serving());
                    prop_assert!(
                        serves,
                        "worker {worker} stopped before its successor served"
                    );
                }
                other => prop_assert!(
                    false,
                    "serving worker {worker} stopped or killed: {other:?}"
                ),
            }
        }
        Ok(())
    }

    /// While a slot's starts keep failing, its delay never shrinks.
    fn check_backoff(&mut self, actions: &[Action]) -> Result<(), TestCaseError> {
        for action in actions {
            let Action::Report(report) = action else {
                continue;
            };
            match report {
                Report::Online(id) => {
                    if let Some(w) = self.h.app.workers().get(id) {
                        self.delays.remove(&w.slot);
                    }
                }
                // A stable run proves the slot's config works: the backoff
                // starts over.
                Report::Exited {
                    uptime,
                    expected: false,
                    failed_start: false,
                    ..
                } if *uptime >= self.params.restart.min_uptime => {
                    if let Some(slot) = self.exiting {
                        self.delays.remove(&slot);
                    }
                }
                Report::Restarting { slot, delay, .. }
                | Report::ReplacementFailed { slot, delay, .. } => {
                    if let Some(last) = self.delays.get(slot) {
                        prop_assert!(delay >= last, "slot {slot}: {delay:?} after {last:?}");
                    }
                    self.delays.insert(*slot, *delay);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Slots point at live workers that still fill them; one rollout.
    fn check_structure(&self) -> Result<(), TestCaseError> {
        let workers = self.h.app.workers();
        let mut reloads = 0;
        for slot in self.h.app.slots() {
            for id in slot.current.iter().chain(&slot.incoming) {
                let w = workers.get(id);
                prop_assert!(w.is_some(), "slot points at a gone worker");
                let phase = w.expect("checked").phase;
                let going = matches!(
                    phase,
                    Phase::Draining { .. } | Phase::Killed { not_ready: false }
                );
                prop_assert!(
                    !going,
                    "a slot is filled by a worker that is going: {phase:?}"
                );
            }
            prop_assert!(slot.current.is_none() || slot.current != slot.incoming);
            if let Some(id) = slot.incoming {
                let phase = workers[&id].phase;
                prop_assert!(
                    matches!(phase, Phase::Launching | Phase::Killed { not_ready: true }),
                    "an incoming worker is {:?}",
                    phase
                );
                if workers[&id].reason == Some(Reason::Reload) {
                    reloads += 1;
                }
            }
        }
        prop_assert!(reloads <= 1, "{reloads} slots replaced by rollouts at once");
        Ok(())
    }

    fn run(&mut self, op: Op) -> Result<(), TestCaseError> {
        let pick = |list: Vec<WorkerId>, n: usize| list.get(n % list.len().max(1)).copied();
        match op {
            Op::Advance(n) => {
                self.h.now += ms(n);
                self.apply(Event::Tick)?;
            }
            Op::Ready(n) => {
                if let Some(id) = pick(self.launching(), n) {
                    self.apply(Event::Ready(id))?;
                }
            }
            Op::Exit(n, clean) => {
                if let Some(id) = pick(self.live(), n) {
                    self.h.procs.remove(&id);
                    let status = ExitStatus::Code(if clean { 0 } else { 1 });
                    self.apply(Event::Exited { worker: id, status })?;
                }
            }
            Op::Probe(n, ok) => {
                if !self.probes.is_empty() {
                    let id = self.probes.remove(n % self.probes.len());
                    let outcome = if ok { Ok(()) } else { Err("HTTP 500".into()) };
                    self.apply(Event::Probed {
                        worker: id,
                        outcome,
                    })?;
                }
            }
            Op::Sample(over) => {
                let pss = if over { 5000 } else { 10 };
                let samples = self.live().into_iter().map(|id| {
                    let sample = crate::lifecycle::Sample {
                        pss,
                        cpu: Duration::ZERO,
                    };
                    (id, sample)
                });
                self.apply(Event::Sampled(samples.collect()))?;
            }
            Op::Heartbeat(n) => {
                if let Some(id) = pick(self.live(), n) {
                    self.apply(Event::Heartbeat(id))?;
                }
            }
            Op::Break(broken) => self.broken = broken,
            Op::Reload(instances) => {
                self.params.instances = instances;
                self.delays.clear();
                let params = self.params.clone();
                let actions = self.h.reload(params);
                self.absorb(&actions);
            }
            Op::Verb(verb, instances) => {
                let event = match verb {
                    0 => Event::Stop,
                    1 => Event::Start,
                    2 => Event::Restart,
                    _ => {
                        self.params.instances = instances;
                        Event::Scale(instances)
                    }
                };
                self.delays.clear();
                self.apply(event)?;
            }
            Op::Shutdown => self.apply(Event::Shutdown)?,
        }
        Ok(())
    }

    /// The world behaves from now on: everything starts, answers and exits
    /// when told; time passes in small steps.
    fn settle(&mut self) -> Result<(), TestCaseError> {
        self.broken = false;
        // An operator who stopped the app starts it again.
        self.apply(Event::Start)?;
        for _ in 0..600 {
            for id in self.launching() {
                self.apply(Event::Ready(id))?;
            }
            for id in std::mem::take(&mut self.probes) {
                self.apply(Event::Probed {
                    worker: id,
                    outcome: Ok(()),
                })?;
            }
            let going: Vec<WorkerId> = self
                .h
                .procs
                .iter()
                .filter(|(_, p)| p.stopped || p.killed)
                .map(|(id, _)| *id)
                .collect();
            for id in going {
                self.h.procs.remove(&id);
                let status = ExitStatus::Code(0);
                self.apply(Event::Exited { worker: id, status })?;
            }
            for id in self.live() {
                self.apply(Event::Heartbeat(id))?;
            }
            self.run(Op::Sample(false))?;
            self.h.now += ms(100);
            self.apply(Event::Tick)?;
        }
        Ok(())
    }
}

proptest! {

    #[test]
    fn every_history_keeps_capacity_and_settles_with_one_worker_per_slot(
        params in app_params(),
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let mut world = World::new(params);
        for op in ops {
            world.run(op)?;
        }
        world.settle()?;
        let app = &world.h.app;
        if app.finished() {
            return Ok(());
        }
        prop_assert!(world.h.app.workers().len() <= app.slots().len(), "extra workers: {:?}", app.workers());
        for (index, slot) in app.slots().iter().enumerate() {
            prop_assert_eq!(slot.incoming, None, "slot {} still replacing", index);
            let serving = slot
                .current
                .and_then(|id| app.workers().get(&id))
                .is_some_and(|w| w.serving());
            let stays_empty = !world.params.restart.autorestart && slot.current.is_none();
            prop_assert!(
                serving || slot.errored.is_some() || stays_empty,
                "slot {} has no serving worker: {:?}", index, slot
            );
        }
    }
}
