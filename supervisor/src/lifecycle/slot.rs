//! One of an app's `instances`: the worker that fills it, the one that is
//! replacing it, and its restart history.

use tokio::time::Instant;

use super::policy::RestartTracker;
use super::{Reason, WorkerId};

/// One slot (`CORRAL_INSTANCE`).
#[derive(Debug, Clone, Default)]
pub struct Slot {
    /// The worker that fills the slot (launching, online or unresponsive).
    pub current: Option<WorkerId>,
    /// The replacement being started; it takes over once online.
    pub incoming: Option<WorkerId>,
    /// The current worker must be replaced, for this reason.
    pub replace: Option<Reason>,
    /// When the next worker (a restart, or a replacement being retried)
    /// may start; `None` with no worker means the slot stays empty.
    pub start_at: Option<Instant>,
    /// Why the next restart happens (`None` for a first start).
    pub start_reason: Option<Reason>,
    /// Set when the slot gave up: why, in one sentence.
    pub errored: Option<String>,
    /// Workers started in this slot after its first.
    pub restarts: u32,
    /// Why the last one was started.
    pub last_reason: Option<Reason>,
    pub(super) tracker: RestartTracker,
}

impl Slot {
    /// A slot whose first worker starts at `now`, for `reason`.
    pub(super) fn starting(now: Instant, reason: Option<Reason>) -> Self {
        Self {
            start_at: Some(now),
            start_reason: reason,
            ..Self::default()
        }
    }

    /// Unstable restarts in a row so far.
    pub fn unstable(&self) -> u32 {
        self.tracker.unstable()
    }

    /// Whether it is time to start a worker here: an empty slot whose
    /// restart is due, or a replacement that is due.
    pub(super) fn due(&self, now: Instant) -> bool {
        if self.errored.is_some() || self.incoming.is_some() {
            return false;
        }
        let time = self.start_at.is_none_or(|at| at <= now);
        match self.current {
            None => self.start_at.is_some() && time,
            Some(_) => self.replace.is_some() && time,
        }
    }

    /// When [`Slot::due`] next becomes true by the clock alone.
    pub(super) fn deadline(&self) -> Option<Instant> {
        let waiting = self.errored.is_none()
            && self.incoming.is_none()
            && (self.current.is_none() || self.replace.is_some());
        self.start_at.filter(|_| waiting)
    }
}
