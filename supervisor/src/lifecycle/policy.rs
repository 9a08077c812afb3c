//! The restart policy: what to do when a worker exits or a replacement
//! fails to start.
//!
//! An exit is stable when the worker was online and lived at least
//! `min_uptime`; anything else (a crash soon after start, a failed start
//! whatever its uptime) is an unstable restart. Unstable restarts in a row
//! back off exponentially from `exp_backoff_restart_delay`, doubling up to
//! [`MAX_BACKOFF`]; after `max_restarts` of them the slot gives up and the
//! app is `errored`. A stable exit resets the count.
//!
//! Pure logic over durations the caller measures with the monotonic clock, so
//! it is tested exhaustively without processes or timers.

use std::time::Duration;

use crate::config::AppConfig;

/// The ceiling of the exponential backoff.
pub const MAX_BACKOFF: Duration = Duration::from_secs(15);

/// The part of an app's config that decides restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Restart at all.
    pub autorestart: bool,
    /// A worker that lived shorter than this was unstable.
    pub min_uptime: Duration,
    /// Unstable restarts in a row allowed before giving up.
    pub max_restarts: u32,
    /// Fixed delay before every restart.
    pub restart_delay: Duration,
    /// First backoff step, doubled per unstable restart.
    pub exp_backoff: Option<Duration>,
}

impl From<&AppConfig> for RestartPolicy {
    fn from(app: &AppConfig) -> Self {
        Self {
            autorestart: app.autorestart,
            min_uptime: app.min_uptime,
            max_restarts: app.max_restarts,
            restart_delay: app.restart_delay,
            exp_backoff: app.exp_backoff_restart_delay,
        }
    }
}

impl RestartPolicy {
    /// Whether an exit after `uptime` counts as stable: only a worker that
    /// was online, and lived at least `min_uptime`, proves the config works.
    pub fn stable(&self, was_online: bool, uptime: Duration) -> bool {
        was_online && uptime >= self.min_uptime
    }
}

/// What to do after an exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Start a new worker after `delay`.
    Restart {
        /// How long to wait first.
        delay: Duration,
    },
    /// Too many unstable restarts in a row: the app is errored.
    GiveUp,
    /// `autorestart` is off: leave the slot stopped.
    Stay,
}

/// The unstable-restart count of one worker slot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestartTracker {
    unstable: u32,
}

impl RestartTracker {
    /// Unstable restarts in a row so far.
    pub fn unstable(&self) -> u32 {
        self.unstable
    }

    /// Decides after a worker exited; `stable` says it was online for at
    /// least `min_uptime`.
    pub fn on_exit(&mut self, policy: &RestartPolicy, stable: bool) -> Decision {
        if !policy.autorestart {
            return Decision::Stay;
        }
        self.on_failure(policy, stable)
    }

    /// Decides after a replacement failed to start (whatever
    /// `autorestart` says, the worker it was to replace still runs, so
    /// retrying is the only way to carry the replacement out).
    pub fn on_failed_replacement(&mut self, policy: &RestartPolicy) -> Decision {
        self.on_failure(policy, false)
    }

    fn on_failure(&mut self, policy: &RestartPolicy, stable: bool) -> Decision {
        if stable {
            self.unstable = 0;
        } else {
            self.unstable = self.unstable.saturating_add(1);
        }
        if self.unstable > policy.max_restarts {
            return Decision::GiveUp;
        }
        Decision::Restart {
            delay: policy.restart_delay + self.backoff(policy),
        }
    }

    fn backoff(&self, policy: &RestartPolicy) -> Duration {
        match (policy.exp_backoff, self.unstable) {
            (Some(base), n) if n > 0 => {
                let factor = 1u32.checked_shl(n - 1).unwrap_or(u32::MAX);
                base.saturating_mul(factor).min(MAX_BACKOFF)
            }
            _ => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy(max_restarts: u32, base_ms: u64) -> RestartPolicy {
        RestartPolicy {
            autorestart: true,
            min_uptime: Duration::from_secs(1),
            max_restarts,
            restart_delay: Duration::ZERO,
            exp_backoff: Some(Duration::from_millis(base_ms)),
        }
    }

    #[test]
    fn backoff_doubles_then_gives_up() {
        let p = policy(4, 100);
        let mut t = RestartTracker::default();
        let delays: Vec<Decision> = (0..5).map(|_| t.on_exit(&p, false)).collect();
        let ms = |n| Decision::Restart {
            delay: Duration::from_millis(n),
        };
        assert_eq!(
            delays,
            vec![ms(100), ms(200), ms(400), ms(800), Decision::GiveUp]
        );
    }

    #[test]
    fn a_stable_run_resets_the_backoff() {
        let p = policy(10, 100);
        let mut t = RestartTracker::default();
        t.on_exit(&p, false);
        t.on_exit(&p, false);
        let after_stable = t.on_exit(&p, true);
        assert_eq!(
            after_stable,
            Decision::Restart {
                delay: Duration::ZERO
            }
        );
        assert_eq!(t.unstable(), 0);
    }

    #[test]
    fn only_an_online_worker_that_lived_min_uptime_is_stable() {
        let p = policy(3, 100);
        assert!(!p.stable(false, Duration::from_secs(60)), "a failed start");
        assert!(!p.stable(true, Duration::from_millis(999)));
        assert!(p.stable(true, Duration::from_secs(1)));
    }

    #[test]
    fn a_failed_replacement_backs_off_even_with_autorestart_off() {
        let p = RestartPolicy {
            autorestart: false,
            ..policy(3, 100)
        };
        let mut t = RestartTracker::default();
        assert_eq!(
            t.on_failed_replacement(&p),
            Decision::Restart {
                delay: Duration::from_millis(100)
            }
        );
    }

    #[test]
    fn autorestart_off_leaves_the_slot_stopped() {
        let p = RestartPolicy {
            autorestart: false,
            ..policy(3, 100)
        };
        assert_eq!(RestartTracker::default().on_exit(&p, false), Decision::Stay);
    }

    proptest! {
        /// For every history of exits: delays never exceed the cap plus the
        /// fixed delay, grow monotonically while unstable, and the slot gives
        /// up exactly after `max_restarts` unstable exits in a row.
        #[test]
        fn backoff_is_bounded_monotonic_and_gives_up_on_time(
            max_restarts in 0u32..40,
            base_ms in 1u64..20_000,
            fixed_ms in 0u64..5_000,
            uptimes_ms in proptest::collection::vec(0u64..3_000, 1..80),
        ) {
            let p = RestartPolicy {
                restart_delay: Duration::from_millis(fixed_ms),
                ..policy(max_restarts, base_ms)
            };
            let mut t = RestartTracker::default();
            let mut in_a_row = 0u32;
            let mut last_delay = Duration::ZERO;
            for up in uptimes_ms {
                let uptime = Duration::from_millis(up);
                let unstable = uptime < p.min_uptime;
                in_a_row = if unstable { in_a_row + 1 } else { 0 };
                match t.on_exit(&p, p.stable(true, uptime)) {
                    Decision::GiveUp => {
                        prop_assert_eq!(in_a_row, max_restarts + 1);
                        break;
                    }
                    Decision::Restart { delay } => {
                        prop_assert!(in_a_row <= max_restarts);
                        prop_assert!(delay <= MAX_BACKOFF + p.restart_delay);
                        if unstable && in_a_row > 1 {
                            prop_assert!(delay >= last_delay);
                        } else if !unstable {
                            prop_assert_eq!(delay, p.restart_delay);
                        }
                        last_delay = delay;
                    }
                    Decision::Stay => prop_assert!(false, "autorestart is on"),
                }
            }
        }
    }
}
