//! New-first replacement for health, watchdog and memory.

use super::harness::{Harness, ms, params};
use crate::app::AppState;
use crate::lifecycle::{
    Action, HealthParams, KillCause, MemoryLimit, Params, Phase, Readiness, Reason, Report,
    StopCause,
};
use crate::reaper::ExitStatus;

fn health(readiness: Readiness) -> Params {
    Params {
        readiness,
        health: Some(HealthParams {
            interval: ms(1000),
            grace_period: ms(3000),
            failures: 3,
        }),
        ..params(1)
    }
}

/// Probes the worker at each due probe, with `ok`, `n` times.
fn probes(h: &mut Harness, worker: u64, ok: bool, n: usize) {
    for _ in 0..n {
        let actions = h.until_deadline().expect("a probe is due");
        assert!(actions.contains(&Action::Probe(worker)), "{actions:?}");
        h.probe(worker, ok);
    }
}

#[test]
fn with_a_health_check_and_no_wait_ready_the_first_passing_probe_makes_it_online() {
    let mut h = Harness::start(health(Readiness::Health));
    let w = h.current(0).unwrap();
    // Probed quickly while launching; failures then are not counted.
    probes(&mut h, w, false, 5);
    assert_eq!(h.phase(w), Some(Phase::Launching));
    assert_eq!(h.now - h.app.workers()[&w].started, ms(500));
    probes(&mut h, w, true, 1);
    assert_eq!(h.phase(w), Some(Phase::Online));
    assert_eq!(h.app.workers()[&w].health_failures, 0);
}

#[test]
fn failures_in_a_row_after_the_grace_replace_the_worker_new_first() {
    let mut h = Harness::start(health(Readiness::Notify));
    let old = h.current(0).unwrap();
    h.ready(old);
    // Within the grace period failures are not counted.
    probes(&mut h, old, false, 2);
    assert_eq!(h.app.workers()[&old].health_failures, 0);
    probes(&mut h, old, true, 1);
    probes(&mut h, old, false, 2);
    assert_eq!(h.phase(old), Some(Phase::Online));
    probes(&mut h, old, false, 1);
    assert_eq!(h.phase(old), Some(Phase::Unresponsive(Reason::Health)));
    assert_eq!(h.serving(), 0, "an unresponsive worker is not capacity");
    let new = h.incoming(0).expect("a replacement is on its way");
    assert!(h.stops().is_empty(), "the old worker is not stopped yet");
    h.ready(new);
    assert_eq!(h.current(0), Some(new));
    assert_eq!(h.stops(), vec![(old, StopCause::Replaced(Reason::Health))]);
    assert_eq!(h.app.slots()[0].last_reason, Some(Reason::Health));
    // A hung worker does not drain: SIGKILL at kill_timeout.
    let actions = h.advance(ms(5000));
    assert!(actions.contains(&Action::Kill {
        worker: old,
        why: KillCause::DrainTimeout
    }));
}

#[test]
fn a_failed_replacement_keeps_the_old_worker_and_retries_with_backoff() {
    let mut h = Harness::start(health(Readiness::Notify));
    let old = h.current(0).unwrap();
    h.ready(old);
    probes(&mut h, old, true, 3);
    probes(&mut h, old, false, 3);
    for n in 0..3 {
        let new = h.incoming(0).expect("a replacement");
        h.exit(new, ExitStatus::Code(1));
        assert_eq!(h.current(0), Some(old), "attempt {n}");
        assert!(h.stops().is_empty());
        h.until_deadline();
    }
    let delays = h.restart_delays();
    assert_eq!(delays, vec![ms(100), ms(200), ms(400)]);
    let failed = h
        .reports()
        .into_iter()
        .filter(|r| {
            matches!(
                r,
                Report::ReplacementFailed {
                    reason: Reason::Health,
                    ..
                }
            )
        })
        .count();
    assert_eq!(failed, 3);
    assert_ne!(h.app.state(), AppState::Errored);
}

#[test]
fn no_heartbeat_within_the_watchdog_period_replaces_the_worker() {
    let mut h = Harness::start(Params {
        watchdog: Some(ms(2000)),
        ..params(1)
    });
    let old = h.current(0).unwrap();
    h.ready(old);
    for _ in 0..5 {
        h.advance(ms(1500));
        h.handle(crate::lifecycle::Event::Heartbeat(old));
    }
    assert_eq!(h.phase(old), Some(Phase::Online));
    h.advance(ms(2000));
    assert_eq!(h.phase(old), Some(Phase::Unresponsive(Reason::Watchdog)));
    let new = h.incoming(0).expect("a replacement");
    h.ready(new);
    assert_eq!(
        h.stops(),
        vec![(old, StopCause::Replaced(Reason::Watchdog))]
    );
}

#[test]
fn memory_over_the_limit_on_enough_samples_in_a_row_replaces_the_worker() {
    let mut h = Harness::start(Params {
        memory: Some(MemoryLimit {
            bytes: 100,
            samples: 3,
        }),
        ..params(1)
    });
    let old = h.current(0).unwrap();
    h.ready(old);
    // A spike, then back under, then two over: not three in a row.
    for pss in [500, 50, 500, 500] {
        h.sample(&[(old, pss)]);
    }
    assert_eq!(h.incoming(0), None);
    h.sample(&[(old, 500)]);
    let new = h.incoming(0).expect("a replacement");
    assert_eq!(h.serving(), 1, "the old worker serves until then");
    h.ready(new);
    assert_eq!(h.stops(), vec![(old, StopCause::Replaced(Reason::Memory))]);
    assert_eq!(h.serving(), 1);
}

#[test]
fn samples_are_asked_for_every_interval_and_give_cpu_use() {
    let mut h = Harness::start(params(1));
    let w = h.current(0).unwrap();
    let actions = h.advance(ms(1000));
    assert!(actions.contains(&Action::Sample(vec![w])), "{actions:?}");
    assert!(
        !h.advance(ms(1000)).contains(&Action::Sample(vec![w])),
        "one at a time"
    );
    let sample = |cpu| crate::lifecycle::Sample { pss: 10, cpu };
    h.handle(crate::lifecycle::Event::Sampled(vec![(w, sample(ms(0)))]));
    h.advance(ms(1000));
    h.handle(crate::lifecycle::Event::Sampled(vec![(w, sample(ms(500)))]));
    let usage = h.app.workers()[&w].usage.expect("usage");
    assert_eq!(usage.pss, 10);
    assert!((usage.cpu_percent - 50.0).abs() < 0.01, "{usage:?}");
}

#[test]
fn the_replacement_of_a_crashed_worker_takes_its_slot_over() {
    let mut h = Harness::start(Params {
        memory: Some(MemoryLimit {
            bytes: 100,
            samples: 1,
        }),
        ..params(1)
    });
    let old = h.current(0).unwrap();
    h.ready(old);
    h.sample(&[(old, 500)]);
    let new = h.incoming(0).unwrap();
    h.exit(old, ExitStatus::Code(1));
    assert_eq!(h.current(0), Some(new));
    assert_eq!(h.incoming(0), None);
    h.ready(new);
    assert_eq!(h.app.state(), AppState::Online);
    assert_eq!(h.spawns().len(), 2, "no extra restart");
}

#[test]
fn probes_keep_their_cadence_when_each_answer_takes_the_whole_timeout() {
    let mut h = Harness::start(Params {
        health: Some(HealthParams {
            interval: ms(1000),
            grace_period: ms(0),
            failures: 3,
        }),
        ..params(1)
    });
    let w = h.current(0).unwrap();
    h.ready(w);
    let hung_at = h.now;
    // Each probe is sent on time and fails 800 ms later (its timeout).
    let mut sent = Vec::new();
    while h.phase(w) == Some(Phase::Online) {
        let due = h.until_deadline().expect("a probe is due");
        if due.contains(&Action::Probe(w)) {
            sent.push(h.now - hung_at);
        }
        h.advance(ms(800));
        h.probe(w, false);
        assert!(sent.len() < 10, "never replaced");
    }
    assert_eq!(sent, vec![ms(1000), ms(2000), ms(3000)]);
    assert!(
        h.now - hung_at <= ms(3000 + 800),
        "found out at {:?}",
        h.now - hung_at
    );
}
