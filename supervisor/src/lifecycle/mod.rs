//! The lifecycle of an app's workers, as one pure state machine.
//!
//! Every decision about an app (when to start a worker, when it counts as
//! online, when to replace it and why, when to drain or kill it, how a
//! rolling reload advances or stops) is made here, by [`App::handle`]: a
//! function from (state, [`Event`], now) to [`Action`]s. Nothing here does
//! I/O or reads the clock; the app manager (`crate::app`) carries the
//! actions out and feeds back what happened, so the whole lifecycle is
//! tested with made-up events and instants, no processes and no sleeping.
//!
//! # A worker
//!
//! ```text
//!            spawn
//!              │
//!              ▼       not ready within listen_timeout
//!         Launching ─────────────────────────────────────► Killed ──┐
//!              │  ready: READY=1 (wait_ready), else a passing       │
//!              │  health check (health_check), else min_uptime      │
//!              ▼                                                    │
//!           Online ──── health checks fail `failures` times ─────┐  │
//!              │    └── no WATCHDOG=1 within `watchdog` ───────► Unresponsive
//!              │                                                 │  │
//!              │  replaced (its replacement is online), scaled   │  │
//!              │  down, or shutdown                              │  │
//!              ▼                                                 │  │
//!          Draining ◄────────────────────────────────────────────┘  │
//!              │  (kill_signal, then SIGCONT; SIGKILL of its tree    │
//!              │   at kill_timeout)                                  │
//!              ▼                                                     │
//!           exited ◄─────────────────────────────────────────────────┘
//! ```
//!
//! A worker may exit in any phase. One that exits before it was ever
//! online is a *failed start*: an unstable restart whatever its uptime.
//! An exit is *stable* only when the worker was online and lived at least
//! `min_uptime`; that alone resets the backoff ([`policy`]).
//!
//! # A slot
//!
//! Each of the app's `instances` is a [`Slot`] with a `current` worker and,
//! while it is being replaced, an `incoming` one. A replacement is always
//! new-first: the incoming worker must be online before the current one is
//! drained, so capacity never drops because of a replacement. Replacements
//! name their [`Reason`]. A replacement that fails leaves the current
//! worker where it is: for `memory`, `health` and `watchdog` it is retried
//! with backoff; for `reload` it stops the rollout.
//!
//! # A rollout
//!
//! A reload replaces the slots one at a time ([`rollout`]): the next slot
//! begins only when the previous slot's old worker has exited, so at most
//! one extra worker runs. A reload during a rollout supersedes it.

mod machine;
mod params;
pub mod policy;
mod rollout;
mod slot;
#[cfg(test)]
mod tests;
mod worker;

use std::fmt;
use std::time::Duration;

pub use machine::App;
pub use params::{HealthParams, MemoryLimit, Params, Readiness};
pub use slot::Slot;
pub use worker::{Phase, Usage, Worker};

use crate::reaper::ExitStatus;

/// The state of an app as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppState {
    /// Some workers are not online yet (or are being restarted).
    Launching,
    /// Every configured worker is online.
    Online,
    /// A slot gave up after `max_restarts` unstable restarts.
    Errored,
    /// Shutting down: its workers drain.
    Stopping,
    /// Every worker stopped (shutdown, or `autorestart = false` exits).
    Stopped,
}

impl fmt::Display for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Launching => "launching",
            Self::Online => "online",
            Self::Errored => "errored",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
        })
    }
}

/// Identifies one worker process for its whole life, across pid reuse.
pub type WorkerId = u64;

/// Why a slot's worker was started in place of another one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The previous worker exited on its own or never started.
    Crash,
    /// A rolling reload.
    Reload,
    /// The instance count changed.
    Scale,
    /// Its memory stayed over `max_memory_restart`.
    Memory,
    /// Its health checks failed `failures` times in a row.
    Health,
    /// It sent no `WATCHDOG=1` within `watchdog`.
    Watchdog,
}

impl Reason {
    /// The name operators see in logs and status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crash => "crash",
            Self::Reload => "reload",
            Self::Scale => "scale",
            Self::Memory => "memory",
            Self::Health => "health",
            Self::Watchdog => "watchdog",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a worker is told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// Its replacement is online.
    Replaced(Reason),
    /// A newer reload superseded the rollout that started it.
    Superseded,
    /// Its slot went away with a smaller instance count.
    ScaledDown,
    /// The app is stopping.
    Shutdown,
}

impl fmt::Display for StopCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Replaced(reason) => write!(f, "replaced ({reason})"),
            Self::Superseded => f.write_str("superseded by a newer reload"),
            Self::ScaledDown => f.write_str("scaled down"),
            Self::Shutdown => f.write_str("shutdown"),
        }
    }
}

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
