//! The circuit breaker's rule: when to stop sending requests to a database
//! that cannot be reached, and when to try it again.
//!
//! Without it, every request of an outage waits its whole timeout (the
//! pool's acquire timeout, a statement's bound) before it fails; with it,
//! only the first few do. After [`OPEN_AFTER`] calls in a row fail in a way
//! that means "unreachable", the circuit opens: calls fail at once, with
//! the time left before the next try. After [`OPEN_FOR`] it half-opens and
//! lets one call through, the probe: its success closes the circuit, its
//! failure opens it again. Errors that prove the database answered (a
//! constraint, a bad query) count as successes.
//!
//! Pure: time is passed in, so the rule is tested without sleeping; the
//! guard around the repositories ([`super::guard`]) holds it in a mutex.

use std::time::{Duration, Instant};

/// Unreachable failures in a row that open the circuit: one could be a
/// connection the server dropped, a few in a row is an outage.
pub(crate) const OPEN_AFTER: u32 = 3;

/// How long the circuit stays open before one call probes the database.
pub(crate) const OPEN_FOR: Duration = Duration::from_secs(1);

/// Where the circuit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Calls go through; `failures` unreachable ones in a row so far.
    Closed { failures: u32 },
    /// Calls fail at once until `until`.
    Open { until: Instant },
    /// One probe is out since `since`; other calls fail at once, until the
    /// probe answers or `since + probe_limit` passes (a probe whose caller
    /// went away never answers, and must not keep the circuit shut).
    HalfOpen { since: Instant },
}

/// What a call may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Go ahead.
    Pass,
    /// Do not touch the database; try again after this long.
    Refuse { retry_after: Duration },
}

/// How a call that went through ended, as far as the circuit cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The database answered (with rows or with an error of its own).
    Answered,
    /// The database could not be reached or did not answer in time.
    Unreachable,
}

/// The circuit of one database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Circuit {
    state: State,
    /// How long a probe may stay out before another is let through: the
    /// longest a call can take.
    probe_limit: Duration,
}

impl Circuit {
    /// A closed circuit whose probes may take up to `probe_limit`.
    pub(crate) fn new(probe_limit: Duration) -> Self {
        Self {
            state: State::Closed { failures: 0 },
            probe_limit,
        }
    }

    /// Where it stands.
    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// Whether a call may go to the database at `now`; letting one through
    /// while half-open makes it the probe.
    pub(crate) fn admit(&mut self, now: Instant) -> Admission {
        match self.state {
            State::Closed { .. } => Admission::Pass,
            State::Open { until } if now < until => Admission::Refuse {
                retry_after: until - now,
            },
            State::HalfOpen { since } if now < since + self.probe_limit => Admission::Refuse {
                retry_after: OPEN_FOR,
            },
            State::Open { .. } | State::HalfOpen { .. } => {
                self.state = State::HalfOpen { since: now };
                Admission::Pass
            }
        }
    }

    /// Opens the circuit at `now`, whatever its count: the database left a
    /// ping unanswered while a call waited on it, which proves the outage
    /// that [`OPEN_AFTER`] failures would. An open circuit stays as it is.
    pub(crate) fn trip(&mut self, now: Instant) {
        if !matches!(self.state, State::Open { .. }) {
            self.state = State::Open {
                until: now + OPEN_FOR,
            };
        }
    }

    /// Takes the outcome of a call that was let through, at `now`.
    pub(crate) fn record(&mut self, outcome: Outcome, now: Instant) {
        self.state = match (outcome, self.state) {
            (Outcome::Answered, _) => State::Closed { failures: 0 },
            (Outcome::Unreachable, State::Closed { failures }) if failures + 1 < OPEN_AFTER => {
                State::Closed {
                    failures: failures + 1,
                }
            }
            // Calls let through before it opened keep failing: the
            // interval is not stretched by them.
            (Outcome::Unreachable, open @ State::Open { .. }) => open,
            (Outcome::Unreachable, State::Closed { .. } | State::HalfOpen { .. }) => State::Open {
                until: now + OPEN_FOR,
            },
        };
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const LIMIT: Duration = Duration::from_secs(2);

    fn unreachable_times(circuit: &mut Circuit, now: Instant, times: u32) {
        for _ in 0..times {
            assert_eq!(circuit.admit(now), Admission::Pass);
            circuit.record(Outcome::Unreachable, now);
        }
    }

    #[test]
    fn opens_after_failures_in_a_row_and_refuses_at_once() {
        let start = Instant::now();
        let mut circuit = Circuit::new(LIMIT);
        unreachable_times(&mut circuit, start, OPEN_AFTER - 1);
        assert_eq!(circuit.state(), State::Closed { failures: 2 });
        unreachable_times(&mut circuit, start, 1);
        let later = start + Duration::from_millis(400);
        assert_eq!(
            circuit.admit(later),
            Admission::Refuse {
                retry_after: Duration::from_millis(600)
            }
        );
    }

    #[test]
    fn an_answer_between_failures_starts_the_count_again() {
        let start = Instant::now();
        let mut circuit = Circuit::new(LIMIT);
        unreachable_times(&mut circuit, start, OPEN_AFTER - 1);
        circuit.record(Outcome::Answered, start);
        unreachable_times(&mut circuit, start, OPEN_AFTER - 1);
        assert_eq!(circuit.admit(start), Admission::Pass);
    }

    #[test]
    fn half_opens_for_one_probe_whose_answer_closes_it() {
        let start = Instant::now();
        let mut circuit = Circuit::new(LIMIT);
        unreachable_times(&mut circuit, start, OPEN_AFTER);
        let probe = start + OPEN_FOR;
        assert_eq!(circuit.admit(probe), Admission::Pass);
        assert_eq!(circuit.state(), State::HalfOpen { since: probe });
        assert!(matches!(circuit.admit(probe), Admission::Refuse { .. }));
        circuit.record(Outcome::Answered, probe);
        assert_eq!(circuit.admit(probe), Admission::Pass);
    }

    #[test]
    fn a_failed_probe_opens_it_again() {
        let start = Instant::now();
        let mut circuit = Circuit::new(LIMIT);
        unreachable_times(&mut circuit, start, OPEN_AFTER);
        let probe = start + OPEN_FOR;
        circuit.admit(probe);
        circuit.record(Outcome::Unreachable, probe);
        assert_eq!(
            circuit.state(),
            State::Open {
                until: probe + OPEN_FOR
            }
        );
    }

    #[test]
    fn a_probe_that_never_answers_is_replaced_after_the_limit() {
        let start = Instant::now();
        let mut circuit = Circuit::new(LIMIT);
        unreachable_times(&mut circuit, start, OPEN_AFTER);
        let probe = start + OPEN_FOR;
        circuit.admit(probe);
        assert!(matches!(
            circuit.admit(probe + LIMIT - Duration::from_millis(1)),
            Admission::Refuse { .. }
        ));
        assert_eq!(circuit.admit(probe + LIMIT), Admission::Pass);
    }

    #[test]
    fn a_trip_opens_it_from_closed_or_half_open_and_leaves_an_open_one_be() {
        let start = Instant::now();
        let mut circuit = Circuit::new(LIMIT);
        circuit.trip(start);
        let open = State::Open {
            until: start + OPEN_FOR,
        };
        assert_eq!(circuit.state(), open);
        circuit.trip(start + Duration::from_millis(300));
        assert_eq!(circuit.state(), open, "an open interval is not stretched");
        let probe = start + OPEN_FOR;
        assert_eq!(circuit.admit(probe), Admission::Pass);
        circuit.trip(probe);
        assert_eq!(
            circuit.state(),
            State::Open {
                until: probe + OPEN_FOR
            }
        );
    }

    /// A step of a random run: a call at some time, with some outcome.
    fn step() -> impl Strategy<Value = (u64, bool)> {
        (0u64..1500, any::<bool>())
    }

    proptest! {
        /// Whatever happens, a refusal never asks to wait longer than the
        /// open interval; the circuit is open only after `OPEN_AFTER`
        /// unreachable outcomes in a row (or a failed probe); and an
        /// answer always closes it.
        #[test]
        fn the_rule_holds_for_any_run(steps in proptest::collection::vec(step(), 1..200)) {
            let mut now = Instant::now();
            let mut circuit = Circuit::new(LIMIT);
            let mut in_a_row = 0u32;
            for (advance, answered) in steps {
                now += Duration::from_millis(advance);
                let before = circuit.state();
                match circuit.admit(now) {
                    Admission::Refuse { retry_after } => {
                        prop_assert!(retry_after <= OPEN_FOR);
                        prop_assert!(retry_after > Duration::ZERO);
                        let was_closed = matches!(before, State::Closed { .. });
                        prop_assert!(!was_closed);
                        continue;
                    }
                    Admission::Pass => {}
                }
                let probing = matches!(circuit.state(), State::HalfOpen { .. });
                if answered {
                    circuit.record(Outcome::Answered, now);
                    in_a_row = 0;
                    prop_assert_eq!(circuit.state(), State::Closed { failures: 0 });
                } else {
                    circuit.record(Outcome::Unreachable, now);
                    in_a_row += 1;
                    let open = matches!(circuit.state(), State::Open { .. });
                    prop_assert_eq!(open, probing || in_a_row >= OPEN_AFTER);
                    if open {
                        prop_assert_eq!(circuit.state(), State::Open { until: now + OPEN_FOR });
                    }
                }
            }
        }
    }
}
