//! The failed-login throttle's rule, shared by both backends so they
//! cannot drift apart; each backend only loads and stores the record of a
//! key inside one locking transaction.
//!
//! An attempt is counted *before* its password is checked (a reservation),
//! and the count is only taken back by a success. So however many attempts
//! arrive at once, at most `max_failures` of them get to check a password
//! in a window: the next one locks the key. Counting after the check would
//! let every parallel attempt pass the lock check while none had failed yet.
//!
//! This holds only if no count is ever lost: each backend creates and locks
//! a key's record in one step (PostgreSQL: `INSERT ... ON CONFLICT DO
//! UPDATE ... RETURNING`; SQLite: its single writer), so a sweep of expired
//! records cannot delete the row between the two, and a store that finds
//! no row fails the call instead of dropping the count.

use chrono::{DateTime, Utc};

use super::ThrottleLimits;
use super::rules::micros;

/// Most expired records one reservation deletes. Each reservation adds at
/// most one record, so this keeps up with any stream of new keys (e.g.
/// made-up emails) while no login pays for a long backlog.
pub(crate) const SWEEP_BATCH: i64 = 32;

/// Records last touched before this (and not locked at `now`) are the same
/// as none, and may be deleted.
pub(crate) fn expired_before(now: DateTime<Utc>, limits: ThrottleLimits) -> DateTime<Utc> {
    now.checked_sub_signed(limits.window)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A key's record of attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Throttle {
    /// Attempts counted in the current window (failed or still in flight).
    pub(crate) failures: i64,
    /// When the current window began.
    pub(crate) window_start: DateTime<Utc>,
    /// Logins are refused until then.
    pub(crate) locked_until: Option<DateTime<Utc>>,
}

impl Throttle {
    /// The end of the lock, if it is still on at `now`.
    pub(crate) fn lock_end(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.locked_until.filter(|end| *end > now)
    }

    /// A fresh lock from `now`; counting starts afresh after it.
    fn locked(now: DateTime<Utc>, limits: ThrottleLimits) -> (Self, Option<DateTime<Utc>>) {
        let end = micros(later(now, limits.lock));
        let record = Self {
            failures: 0,
            window_start: now,
            locked_until: Some(end),
        };
        (record, Some(end))
    }

    /// The record after reserving an attempt at `now`, and the lock's end
    /// when the attempt is refused: the key is locked, or `max_failures`
    /// attempts are already counted in the window (which locks it).
    pub(crate) fn reserve(
        previous: Option<Self>,
        now: DateTime<Utc>,
        limits: ThrottleLimits,
    ) -> (Self, Option<DateTime<Utc>>) {
        if let Some(locked) = previous.filter(|p| p.lock_end(now).is_some()) {
            return (locked, locked.locked_until);
        }
        let (failures, window_start) = match previous {
            Some(p) if now < later(p.window_start, limits.window) => (p.failures, p.window_start),
            _ => (0, now),
        };
        if failures >= i64::from(limits.max_failures.max(1)) {
            return Self::locked(now, limits);
        }
        let counted = Self {
            failures: failures + 1,
            window_start,
            locked_until: None,
        };
        (counted, None)
    }

    /// The record after a reserved attempt failed, and the lock's end when
    /// this failure locked the key. The attempt is already counted; a
    /// failure while locked changes nothing.
    pub(crate) fn fail(
        self,
        now: DateTime<Utc>,
        limits: ThrottleLimits,
    ) -> (Self, Option<DateTime<Utc>>) {
        if self.lock_end(now).is_some() || self.failures < i64::from(limits.max_failures.max(1)) {
            return (self, None);
        }
        Self::locked(now, limits)
    }
}

/// `time + by`, saturating instead of panicking on absurd settings.
fn later(time: DateTime<Utc>, by: chrono::Duration) -> DateTime<Utc> {
    time.checked_add_signed(by)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    const LIMITS: ThrottleLimits = ThrottleLimits {
        window: Duration::seconds(60),
        max_failures: 3,
        lock: Duration::seconds(300),
    };

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn parallel_reservations_stop_at_the_limit() {
        let mut record = None;
        for expected in 1..=3 {
            let (next, refused) = Throttle::reserve(record, at(0), LIMITS);
            assert_eq!((next.failures, refused), (expected, None));
            record = Some(next);
        }
        let (locked, refused) = Throttle::reserve(record, at(1), LIMITS);
        assert_eq!(refused, Some(at(301)));
        assert_eq!(
            Throttle::reserve(Some(locked), at(2), LIMITS).1,
            Some(at(301))
        );
        // The attempts in flight fail while locked: nothing changes.
        assert_eq!(locked.fail(at(3), LIMITS), (locked, None));
    }

    #[test]
    fn the_last_allowed_failure_locks() {
        let mut record = None;
        for _ in 0..3 {
            record = Some(Throttle::reserve(record, at(0), LIMITS).0);
        }
        let (_, locked) = record.unwrap().fail(at(1), LIMITS);
        assert_eq!(locked, Some(at(301)));
        let (one, _) = Throttle::reserve(None, at(0), LIMITS);
        assert_eq!(one.fail(at(1), LIMITS), (one, None));
    }

    #[test]
    fn the_window_slides_and_locks_end() {
        let (old, _) = Throttle::reserve(None, at(0), LIMITS);
        let old = Throttle { failures: 3, ..old };
        let (fresh, refused) = Throttle::reserve(Some(old), at(60), LIMITS);
        assert_eq!(
            (fresh.failures, fresh.window_start, refused),
            (1, at(60), None)
        );
        let (locked, _) = Throttle::locked(at(0), LIMITS);
        let (after, refused) = Throttle::reserve(Some(locked), at(300), LIMITS);
        assert_eq!(
            (after.failures, after.locked_until, refused),
            (1, None, None)
        );
    }
}
