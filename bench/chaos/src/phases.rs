//! What the requests of a database outage saw, phase by phase: before the
//! fault, during it, and after the database came back. A pure summary of
//! timed samples, so the verdicts of the `db-outage` scenario rest on
//! arithmetic that is tested on its own.

use std::collections::BTreeMap;

use serde::Serialize;

/// Which request a sample is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A read that needs the database (`GET /api/posts`).
    Read,
    /// A write (`POST /api/posts`).
    Write,
    /// `GET /health`: readiness, fails while the database is unreachable.
    Health,
    /// `GET /health/live`: liveness, what corral probes.
    Live,
}

/// One request: when it started and how long it took, in seconds since the
/// run began, and how it ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Which request.
    pub kind: Kind,
    /// When it was sent.
    pub started: f64,
    /// How long until its whole answer (or its failure).
    pub took: f64,
    /// The status, or `None` if no whole answer came.
    pub status: Option<u16>,
    /// Whether the answer had a `Retry-After` header.
    pub retry_after: bool,
}

/// A stretch of the run: `[from, to)` in seconds since the start.
#[derive(Clone, Copy, Debug)]
pub struct Phase {
    /// Its name in the report.
    pub name: &'static str,
    /// When it began.
    pub from: f64,
    /// When it ended.
    pub to: f64,
}

/// What the requests started in one phase saw.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// How long the phase lasted, in seconds.
    pub seconds: f64,
    /// Per kind of request, how many ended with each status (`"none"`: no
    /// whole answer).
    pub answers: BTreeMap<Kind, BTreeMap<String, u64>>,
    /// Reads and writes that failed other than with a 503.
    pub failed_not_503: u64,
    /// The slowest 503 to a read or a write, in seconds.
    pub slowest_503_s: Option<f64>,
    /// Whether every 503 (any kind) carried `Retry-After`.
    pub every_503_had_retry_after: bool,
    /// How long after the phase began the last failed read or write ended,
    /// in seconds: after a fault, the time to full recovery (0: none
    /// failed). Only failures that ended within the phase count: a request
    /// sent just before the next fault began fails because of that fault.
    pub last_failure_ended_s: f64,
    /// Failed reads and writes that were still running when the phase
    /// ended, left out of `last_failure_ended_s`.
    pub failed_into_next_phase: u64,
}

/// Sums up the samples started within `phase`.
pub fn summarize(samples: &[Sample], phase: Phase) -> Summary {
    let mut summary = Summary {
        seconds: phase.to - phase.from,
        every_503_had_retry_after: true,
        ..Summary::default()
    };
    let within = samples
        .iter()
        .filter(|s| phase.from <= s.started && s.started < phase.to);
    for sample in within {
        let status = sample.status.map_or("none".to_owned(), |s| s.to_string());
        *summary
            .answers
            .entry(sample.kind)
            .or_default()
            .entry(status)
            .or_default() += 1;
        if sample.status == Some(503) && !sample.retry_after {
            summary.every_503_had_retry_after = false;
        }
        let serves_data = matches!(sample.kind, Kind::Read | Kind::Write);
        let ok = sample.status.is_some_and(|s| (200..300).contains(&s));
        if !serves_data || ok {
            continue;
        }
        if sample.status == Some(503) {
            let slowest = summary.slowest_503_s.get_or_insert(0.0);
            *slowest = slowest.max(sample.took);
        } else {
            summary.failed_not_503 += 1;
        }
        let ended = sample.started + sample.took;
        if ended < phase.to {
            let since_begun = ended - phase.from;
            summary.last_failure_ended_s = summary.last_failure_ended_s.max(since_begun);
        } else {
            summary.failed_into_next_phase += 1;
        }
    }
    summary
}

impl Summary {
    /// How many requests of `kind` ended with `status`.
    pub fn count(&self, kind: Kind, status: &str) -> u64 {
        self.answers
            .get(&kind)
            .and_then(|by| by.get(status))
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(kind: Kind, started: f64, took: f64, status: Option<u16>, retry: bool) -> Sample {
        Sample {
            kind,
            started,
            took,
            status,
            retry_after: retry,
        }
    }

    const CUT: Phase = Phase {
        name: "cut",
        from: 10.0,
        to: 40.0,
    };

    #[test]
    fn only_samples_started_within_the_phase_count() {
        let samples = [
            sample(Kind::Read, 9.9, 0.5, Some(200), false),
            sample(Kind::Read, 10.0, 0.1, Some(503), true),
            sample(Kind::Read, 40.0, 0.1, Some(200), false),
        ];
        let got = summarize(&samples, CUT);
        assert_eq!(got.count(Kind::Read, "503"), 1);
        assert_eq!(got.count(Kind::Read, "200"), 0);
        assert_eq!(got.seconds, 30.0);
    }

    #[test]
    fn the_slowest_503_and_a_missing_retry_after_are_found() {
        let samples = [
            sample(Kind::Write, 11.0, 0.8, Some(503), true),
            sample(Kind::Read, 12.0, 0.01, Some(503), true),
            sample(Kind::Health, 13.0, 0.01, Some(503), false),
        ];
        let got = summarize(&samples, CUT);
        assert_eq!(got.slowest_503_s, Some(0.8));
        assert!(!got.every_503_had_retry_after);
        assert_eq!(got.failed_not_503, 0);
    }

    #[test]
    fn failures_other_than_503_are_counted_but_not_health_ones() {
        let samples = [
            sample(Kind::Read, 11.0, 10.0, None, false),
            sample(Kind::Write, 12.0, 0.1, Some(500), false),
            sample(Kind::Health, 13.0, 0.1, Some(500), false),
        ];
        let got = summarize(&samples, CUT);
        assert_eq!(got.failed_not_503, 2);
        assert_eq!(got.count(Kind::Read, "none"), 1);
        assert_eq!(got.slowest_503_s, None);
    }

    #[test]
    fn recovery_is_when_the_last_failed_request_ended() {
        let after = Phase {
            name: "after",
            from: 40.0,
            to: 50.0,
        };
        let samples = [
            sample(Kind::Read, 40.2, 0.3, Some(503), true),
            sample(Kind::Write, 40.9, 0.4, Some(503), true),
            sample(Kind::Read, 41.5, 0.1, Some(200), false),
            // A failing readiness check is no request left unserved.
            sample(Kind::Health, 45.0, 0.1, Some(503), true),
        ];
        let got = summarize(&samples, after);
        assert!((got.last_failure_ended_s - 1.3).abs() < 1e-9);
        let clean = summarize(&samples[2..3], after);
        assert_eq!(got.failed_into_next_phase, 0);
        assert_eq!(clean.last_failure_ended_s, 0.0);
        assert!(clean.every_503_had_retry_after);
    }

    #[test]
    fn a_failure_that_ends_after_the_phase_is_the_next_faults_not_a_slow_recovery() {
        let after = Phase {
            name: "after",
            from: 40.0,
            to: 43.0,
        };
        let samples = [
            sample(Kind::Read, 40.2, 0.3, Some(503), true),
            // Sent just before the next fault began, failed by it.
            sample(Kind::Write, 42.99, 0.8, Some(503), true),
        ];
        let got = summarize(&samples, after);
        assert!((got.last_failure_ended_s - 0.5).abs() < 1e-9);
        assert_eq!(got.failed_into_next_phase, 1);
        assert_eq!(got.count(Kind::Write, "503"), 1);
    }
}
