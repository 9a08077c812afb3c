//! One worker as the lifecycle sees it: its phase and what is being
//! measured about it (health, memory, heartbeats).

use std::time::Duration;

use tokio::time::Instant;

use super::{Readiness, Reason, Sample, StopCause, WorkerId};

/// Where a worker is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Spawned; not ready yet.
    Launching,
    /// Ready and counted as capacity.
    Online,
    /// Still running, but its health checks or heartbeats failed: not
    /// counted as capacity, and replaced as soon as its replacement is
    /// online.
    Unresponsive(Reason),
    /// Told to stop; killed at `kill_at` if still running.
    Draining {
        /// Why it was told to stop.
        cause: StopCause,
        /// When its tree gets SIGKILL.
        kill_at: Instant,
    },
    /// Killed; waiting for the exit to be reaped.
    Killed {
        /// It was killed for not being ready in time (a failed start),
        /// rather than for draining too long.
        not_ready: bool,
    },
}

impl Phase {
    /// Whether it was told to go: its exit is expected, not a crash.
    pub fn stopping(self) -> bool {
        matches!(
            self,
            Self::Draining { .. } | Self::Killed { not_ready: false }
        )
    }
}

/// Memory and CPU of a worker as last sampled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// PSS of its process tree, in bytes.
    pub pss: u64,
    /// CPU use between the last two samples, in percent of one CPU.
    pub cpu_percent: f64,
}

/// One worker process.
#[derive(Debug, Clone)]
pub struct Worker {
    /// Its id.
    pub id: WorkerId,
    /// The slot it was started for (it may have left that slot since).
    pub slot: usize,
    /// The config generation it was started with.
    pub generation: u64,
    /// Why it was started; `None` for a slot's first start.
    pub reason: Option<Reason>,
    /// When it was spawned.
    pub started: Instant,
    /// Its phase.
    pub phase: Phase,
    /// When it became online, if it ever did.
    pub online_since: Option<Instant>,
    /// Health checks failed in a row (counted ones).
    pub health_failures: u32,
    /// The last probe's outcome: `Ok` passed, `Err` why it failed.
    pub last_probe: Option<Result<(), String>>,
    /// Memory and CPU as last sampled.
    pub usage: Option<Usage>,
    /// Why its command could not be run, if the exec step said so.
    pub start_error: Option<String>,
    /// What makes it online: its own config's rule, even after a rollback
    /// put another config in force.
    pub(super) readiness: Readiness,
    /// When it is online at the latest ([`Readiness::Uptime`]) or killed
    /// for not being ready (the others).
    pub(super) ready_by: Instant,
    pub(super) kill_timeout: Duration,
    pub(super) next_probe: Option<Instant>,
    pub(super) probing: bool,
    pub(super) memory_over: u32,
    pub(super) last_sample: Option<(Sample, Instant)>,
    pub(super) watchdog_due: Option<Instant>,
}

impl Worker {
    pub(super) fn new(
        id: WorkerId,
        slot: usize,
        generation: u64,
        reason: Option<Reason>,
        now: Instant,
        params: &super::Params,
    ) -> Self {
        let ready_in = match params.readiness {
            Readiness::Uptime => params.restart.min_uptime,
            Readiness::Notify | Readiness::Health => params.listen_timeout,
        };
        Self {
            id,
            slot,
            generation,
            reason,
            started: now,
            phase: Phase::Launching,
            online_since: None,
            health_failures: 0,
            last_probe: None,
            usage: None,
            start_error: None,
            readiness: params.readiness,
            ready_by: now + ready_in,
            kill_timeout: params.kill_timeout,
            next_probe: None,
            probing: false,
            memory_over: 0,
            last_sample: None,
            watchdog_due: None,
        }
    }

    /// Whether it counts as serving capacity.
    pub fn serving(&self) -> bool {
        self.phase == Phase::Online
    }

    /// Whether it may still be asked to stop (it is not already going).
    pub(super) fn running(&self) -> bool {
        matches!(
            self.phase,
            Phase::Launching | Phase::Online | Phase::Unresponsive(_)
        )
    }

    /// Records a sample; returns whether it is over `limit` for the
    /// `samples`-th time in a row (only an online worker is counted: one
    /// still launching cannot be replaced new-first anyway).
    pub(super) fn record_sample(
        &mut self,
        sample: Sample,
        now: Instant,
        limit: Option<(u64, u32)>,
    ) -> bool {
        let cpu_percent = match self.last_sample {
            Some((before, at)) if now > at => {
                let used = sample.cpu.saturating_sub(before.cpu).as_secs_f64();
                100.0 * used / (now - at).as_secs_f64()
            }
            _ => 0.0,
        };
        self.last_sample = Some((sample, now));
        self.usage = Some(Usage {
            pss: sample.pss,
            cpu_percent,
        });
        let Some((bytes, samples)) = limit.filter(|_| self.serving()) else {
            self.memory_over = 0;
            return false;
        };
        if sample.pss > bytes {
            self.memory_over += 1;
        } else {
            self.memory_over = 0;
        }
        self.memory_over == samples
    }

    /// The earliest instant at which one of its phase's timers fires.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Launching => Some(self.ready_by),
            Phase::Online => self.watchdog_due,
            Phase::Draining { kill_at, .. } => Some(kill_at),
            Phase::Unresponsive(_) | Phase::Killed { .. } => None,
        }
    }
}
