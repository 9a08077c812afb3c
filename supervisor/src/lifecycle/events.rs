//! What goes into the state machine ([`Event`]) and what comes out
//! ([`Action`], including [`Report`]s for the log).

use std::time::Duration;

use super::{Params, Reason, StopCause, WorkerId};
use crate::reaper::ExitStatus;

/// CPU and memory of a worker's process tree at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Proportional set size of the tree, in bytes.
    pub pss: u64,
    /// CPU time (user + system) the tree has used so far.
    pub cpu: Duration,
}

/// What happened, as the manager tells it.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Time passed; due timers fire.
    Tick,
    /// The worker could not be spawned at all (no process exists).
    SpawnFailed {
        /// The worker.
        worker: WorkerId,
        /// The OS error, as a sentence.
        error: String,
    },
    /// The worker's exec step could not run its command; its exit follows.
    ExecFailed {
        /// The worker.
        worker: WorkerId,
        /// What failed, with the OS error.
        error: String,
    },
    /// `READY=1`.
    Ready(WorkerId),
    /// `WATCHDOG=1`.
    Heartbeat(WorkerId),
    /// The worker's process was reaped.
    Exited {
        /// The worker.
        worker: WorkerId,
        /// How it ended.
        status: ExitStatus,
    },
    /// A health probe finished: `Ok` passed, `Err` says why it failed.
    Probed {
        /// The worker.
        worker: WorkerId,
        /// The outcome.
        outcome: Result<(), String>,
    },
    /// A round of memory and CPU samples; workers that vanished are absent.
    Sampled(Vec<(WorkerId, Sample)>),
    /// Apply a new config (a reload) with a rolling replacement.
    Reload {
        /// The new config's parameters.
        params: Box<Params>,
        /// Its generation: greater than every one before, never reused.
        generation: u64,
    },
    /// Stop every worker and keep the app stopped (`corral stop`).
    Stop,
    /// Start a stopped app, or the slots of a running one that gave up or
    /// stay empty (`corral start`).
    Start,
    /// Stop every worker and start a new one in each slot at once
    /// (`corral restart`).
    Restart,
    /// Run this many workers until the next reload (`corral scale`).
    Scale(usize),
    /// Stop every worker and end.
    Shutdown,
}

/// What the manager must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Start a worker for `slot` with the config of `generation`.
    Spawn {
        /// Its id, chosen here.
        worker: WorkerId,
        /// The slot (`CORRAL_INSTANCE`).
        slot: usize,
        /// The config generation to start it with.
        generation: u64,
        /// Why; `None` for a slot's first start.
        reason: Option<Reason>,
    },
    /// Send `kill_signal`, then SIGCONT so a stopped process can drain.
    Stop {
        /// The worker.
        worker: WorkerId,
        /// Why.
        cause: StopCause,
    },
    /// SIGKILL the worker's whole process tree.
    Kill {
        /// The worker.
        worker: WorkerId,
        /// Why, for the log.
        why: KillCause,
    },
    /// Probe the worker's health socket and report [`Event::Probed`].
    Probe(WorkerId),
    /// Sample these workers and report [`Event::Sampled`].
    Sample(Vec<WorkerId>),
    /// Something an operator should read in the log.
    Report(Report),
}

/// Why a worker is killed outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillCause {
    /// It was not ready within `listen_timeout`.
    NotReady,
    /// It was still draining at `kill_timeout`.
    DrainTimeout,
}

/// A notable change, for the log (the manager adds pid and instance).
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// The worker became ready.
    Online(WorkerId),
    /// The worker's process ended.
    Exited {
        /// The worker.
        worker: WorkerId,
        /// How it ended.
        status: ExitStatus,
        /// How long it lived.
        uptime: Duration,
        /// It had been told to stop (or killed after draining).
        expected: bool,
        /// It was never online.
        failed_start: bool,
    },
    /// The worker could not start; the error is the OS's.
    StartFailed {
        /// The worker.
        worker: WorkerId,
        /// Its slot.
        slot: usize,
        /// Why.
        error: String,
    },
    /// A slot's worker will be started again after `delay`.
    Restarting {
        /// The slot.
        slot: usize,
        /// The wait.
        delay: Duration,
        /// Unstable restarts in a row so far.
        unstable: u32,
    },
    /// A replacement for `reason` failed; the current worker stays and the
    /// replacement is retried after `delay`.
    ReplacementFailed {
        /// The slot.
        slot: usize,
        /// What the replacement was for.
        reason: Reason,
        /// What went wrong.
        error: String,
        /// The wait before the next attempt.
        delay: Duration,
    },
    /// A slot gave up; the app is errored.
    Errored {
        /// The slot.
        slot: usize,
        /// Why, in one sentence.
        message: String,
    },
    /// `autorestart = false`: the slot stays empty.
    StaysStopped {
        /// The slot.
        slot: usize,
    },
    /// One health probe failed.
    HealthFailed {
        /// The worker.
        worker: WorkerId,
        /// Failures in a row, counted ones only.
        failures: u32,
        /// Why the probe failed.
        detail: String,
    },
    /// The worker is to be replaced, new-first, for `reason`.
    Replacing {
        /// The worker.
        worker: WorkerId,
        /// Why.
        reason: Reason,
        /// Details (the limit and the measure, the missed heartbeat, ...).
        detail: String,
    },
    /// Every slot runs the new config.
    RolloutComplete,
    /// The rollout stopped; the old workers keep serving.
    RolloutStopped {
        /// Why, in one sentence.
        reason: String,
    },
}
