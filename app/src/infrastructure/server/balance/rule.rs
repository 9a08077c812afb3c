//! The balancing decisions, as pure functions of what the table and the
//! socket say: whether a worker holds more than its share, and what a
//! worker over its share does next so that no connection waits for long.

use std::time::{Duration, Instant};

/// How many connections above its share a worker still accepts: a little
/// room, so two workers do not hand every other connection back and forth.
pub const SLACK: u64 = 1;

/// How long a connection may wait in the shared queue while this worker
/// holds back before it takes it anyway: the other workers are asleep,
/// stuck or gone. Well above the few milliseconds a busy machine takes to
/// wake another worker, well below anything a client notices.
pub const PATIENCE: Duration = Duration::from_millis(25);

/// The first re-check of a paused worker comes this soon, so it resumes as
/// soon as the others have taken their share.
pub const RECHECK_MIN: Duration = Duration::from_millis(1);

/// Re-checks back off to this while nothing waits in the queue, so a
/// worker that stays over its share (long-lived connections) costs a
/// wake-up every few milliseconds, not every one.
pub const RECHECK_MAX: Duration = Duration::from_millis(16);

/// The other live workers' connections, as the table shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Others {
    /// Their open connections, summed.
    pub connections: u64,
    /// How many they are.
    pub workers: u64,
}

/// Whether a worker holding `mine` connections holds more than its share:
/// `mine > ceil(total / workers) + SLACK`, where the total and the worker
/// count include it. The least loaded worker is never over its share, so
/// some worker always accepts.
pub fn over_share(mine: u64, others: Others) -> bool {
    let total = mine + others.connections;
    let workers = others.workers + 1;
    mine > total.div_ceil(workers) + SLACK
}

/// What the accept loop does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Accept the next connection.
    Accept,
    /// Check again after this long.
    Wait(Duration),
}

/// The state of one accept loop between its checks: how long connections
/// have waited in the queue while it held back, and whether it is taking
/// them anyway because nobody else did.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    /// When the queue was first seen holding a connection while paused.
    pending_since: Option<Instant>,
    /// Taking whatever waits, since the others let it wait too long.
    helping: bool,
    /// The next wait while nothing is pending.
    backoff: Duration,
}

impl Default for Patience {
    fn default() -> Self {
        Self {
            pending_since: None,
            helping: false,
            backoff: RECHECK_MIN,
        }
    }
}

impl Patience {
    /// The next step at `now`, given whether this worker is `over` its
    /// share and whether the shared queue holds a connection (`pending`).
    /// Under its share it accepts; over it, it waits, but never lets a
    /// connection wait in the queue longer than [`PATIENCE`]: then it
    /// takes everything waiting, until the queue is seen empty.
    pub fn step(&mut self, now: Instant, over: bool, pending: bool) -> Step {
        if !over {
            *self = Self::default();
            return Step::Accept;
        }
        if !pending {
            let wait = self.backoff;
            *self = Self {
                backoff: (wait * 2).min(RECHECK_MAX),
                ..Self::default()
            };
            return Step::Wait(wait);
        }
        if self.helping {
            return Step::Accept;
        }
        let since = *self.pending_since.get_or_insert(now);
        if now.duration_since(since) >= PATIENCE {
            self.helping = true;
            self.pending_since = None;
            return Step::Accept;
        }
        self.backoff = RECHECK_MIN;
        Step::Wait(RECHECK_MIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn others(connections: u64, workers: u64) -> Others {
        Others {
            connections,
            workers,
        }
    }

    #[test]
    fn alone_a_worker_is_never_over_its_share() {
        for mine in [0, 1, 64, 100_000] {
            assert!(!over_share(mine, Others::default()));
        }
    }

    #[test]
    fn a_burst_on_two_idle_workers_stops_the_first_after_a_few() {
        // The first worker accepts while 0, 1, 2, 3 are not over the share.
        assert!(!over_share(3, others(0, 1)));
        assert!(over_share(4, others(0, 1)));
        // Once the other took some, the first takes more again.
        assert!(!over_share(4, others(4, 1)));
        assert!(over_share(34, others(30, 1)));
        assert!(!over_share(33, others(31, 1)));
    }

    proptest! {
        /// Whatever the counts, the least loaded worker accepts: the rule
        /// alone can never stop every worker.
        #[test]
        fn some_worker_always_accepts(counts in proptest::collection::vec(0u64..10_000, 1..16)) {
            let total: u64 = counts.iter().sum();
            let workers = counts.len() as u64;
            let accepting = counts.iter().filter(|&&mine| {
                !over_share(mine, others(total - mine, workers - 1))
            }).count();
            prop_assert!(accepting >= 1);
        }

        /// Accepting one connection at a time, each time by a worker the
        /// rule lets accept (the first such, as the fastest to wake), ends
        /// with every worker within the slack of an even split.
        #[test]
        fn accepting_by_the_rule_ends_balanced(workers in 2usize..8, connections in 0u64..500) {
            let mut counts = vec![0u64; workers];
            for _ in 0..connections {
                let total: u64 = counts.iter().sum();
                let first = (0..workers)
                    .find(|&w| !over_share(counts[w], others(total - counts[w], workers as u64 - 1)))
                    .expect("someone accepts");
                counts[first] += 1;
            }
            let fair = connections.div_ceil(workers as u64);
            for &count in &counts {
                prop_assert!(count <= fair + SLACK + 1, "{counts:?}");
            }
        }

        /// Over its share, a worker never lets a waiting connection sit
        /// longer than the patience, checked at whatever moments.
        #[test]
        fn a_waiting_connection_is_taken_within_the_patience(
            gaps in proptest::collection::vec(0u64..40, 1..200),
        ) {
            let mut patience = Patience::default();
            let mut now = Instant::now();
            let mut waiting_since = None;
            for gap in gaps {
                now += Duration::from_millis(gap);
                let since = *waiting_since.get_or_insert(now);
                match patience.step(now, true, true) {
                    Step::Accept => waiting_since = None,
                    Step::Wait(wait) => {
                        prop_assert_eq!(wait, RECHECK_MIN);
                        prop_assert!(now.duration_since(since) < PATIENCE);
                    }
                }
            }
        }
    }

    #[test]
    fn holding_back_backs_off_while_nothing_waits_and_helps_until_the_queue_is_empty() {
        let mut patience = Patience::default();
        let start = Instant::now();
        let waits: Vec<Step> = (0..7).map(|_| patience.step(start, true, false)).collect();
        let ms = |n| Step::Wait(Duration::from_millis(n));
        assert_eq!(waits, [ms(1), ms(2), ms(4), ms(8), ms(16), ms(16), ms(16)]);
        assert_eq!(patience.step(start, true, true), Step::Wait(RECHECK_MIN));
        assert_eq!(
            patience.step(start + PATIENCE, true, true),
            Step::Accept,
            "the connection waited the whole patience"
        );
        assert_eq!(patience.step(start + PATIENCE, true, true), Step::Accept);
        assert_eq!(patience.step(start + PATIENCE, true, false), ms(1));
        assert_eq!(patience.step(start + PATIENCE, true, true), ms(1));
        assert_eq!(patience.step(start, false, true), Step::Accept);
    }
}
