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

mod events;
mod exits;
mod machine;
mod measures;
mod params;
pub mod policy;
mod rollout;
mod schedule;
mod slot;
#[cfg(test)]
mod tests;
mod transitions;
mod verbs;
mod worker;

use std::fmt;

pub use events::{Action, Event, KillCause, Report, Sample};
pub use machine::App;
pub use params::{HealthParams, MemoryLimit, Params, Readiness};
pub use slot::Slot;
pub use worker::{Phase, Usage, Worker};

/// The state of an app as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
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
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
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
    /// An operator asked (`corral restart`).
    Manual,
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
            Self::Manual => "manual",
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
    /// An operator restarts the app (`corral restart`).
    Restarted,
    /// An operator stops the app (`corral stop`).
    Stopped,
    /// The app is stopping.
    Shutdown,
}

impl fmt::Display for StopCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Replaced(reason) => write!(f, "replaced ({reason})"),
            Self::Superseded => f.write_str("superseded by a newer reload"),
            Self::ScaledDown => f.write_str("scaled down"),
            Self::Restarted => f.write_str("restarted"),
            Self::Stopped => f.write_str("stopped"),
            Self::Shutdown => f.write_str("shutdown"),
        }
    }
}
