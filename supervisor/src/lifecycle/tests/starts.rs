//! Starting workers: readiness, failed starts, restarts and backoff.

use super::harness::{Harness, ms, params};
use crate::app::AppState;
use crate::lifecycle::policy::RestartPolicy;
use crate::lifecycle::{Action, Event, KillCause, Params, Phase, Readiness, Reason, Report};
use crate::reaper::ExitStatus;

#[test]
fn with_wait_ready_a_worker_is_online_at_ready_and_not_before() {
    let mut h = Harness::start(params(2));
    assert_eq!(h.spawns().len(), 2);
    assert_eq!(h.app.state(), AppState::Launching);
    let (a, b) = (h.current(0).unwrap(), h.current(1).unwrap());
    h.advance(ms(2900));
    assert_eq!(h.phase(a), Some(Phase::Launching));
    h.ready(a);
    assert_eq!(h.phase(a), Some(Phase::Online));
    assert_eq!(
        h.app.state(),
        AppState::Launching,
        "one slot still launching"
    );
    h.ready(b);
    assert_eq!(h.app.state(), AppState::Online);
}

#[test]
fn without_wait_ready_or_health_a_worker_is_online_after_min_uptime() {
    let mut h = Harness::start(Params {
        readiness: Readiness::Uptime,
        ..params(1)
    });
    let w = h.current(0).unwrap();
    h.ready(w);
    assert_eq!(
        h.phase(w),
        Some(Phase::Launching),
        "READY=1 is not asked for"
    );
    h.advance(ms(999));
    assert_eq!(h.phase(w), Some(Phase::Launching));
    h.advance(ms(1));
    assert_eq!(h.phase(w), Some(Phase::Online));
}

#[test]
fn a_worker_not_ready_in_time_is_killed_and_its_late_ready_is_ignored() {
    let mut h = Harness::start(params(1));
    let w = h.current(0).unwrap();
    let actions = h.advance(ms(3000));
    assert!(actions.contains(&Action::Kill {
        worker: w,
        why: KillCause::NotReady
    }));
    // READY=1 read before the exit is reaped must not promote it.
    h.ready(w);
    assert_eq!(h.phase(w), Some(Phase::Killed { not_ready: true }));
    assert_eq!(h.serving(), 0);
    h.exit(w, ExitStatus::Signal(nix::sys::signal::Signal::SIGKILL));
    let exited = h.reports().into_iter().find_map(|r| match r {
        Report::Exited { failed_start, .. } => Some(failed_start),
        _ => None,
    });
    assert_eq!(exited, Some(true));
    assert_eq!(h.app.slots()[0].unstable(), 1);
}

#[test]
fn a_start_that_fails_slowly_is_unstable_and_backs_off_more_each_time() {
    let mut h = Harness::start(params(1));
    for _ in 0..5 {
        let w = h.current(0).expect("a worker");
        // Fails after 2.5 s: longer than min_uptime, never ready.
        h.advance(ms(2500));
        h.exit(w, ExitStatus::Code(1));
        h.until_deadline();
    }
    let delays: Vec<u64> = h
        .restart_delays()
        .iter()
        .map(|d| d.as_millis() as u64)
        .collect();
    assert_eq!(delays, vec![100, 200, 400, 800, 1600]);
    assert_eq!(h.app.slots()[0].unstable(), 5);
}

#[test]
fn a_spawn_that_fails_errors_the_app_with_the_os_error() {
    let mut h = Harness::start(Params {
        restart: RestartPolicy {
            max_restarts: 2,
            ..params(1).restart
        },
        ..params(1)
    });
    let error = "cannot start `nope` in /srv: No such file or directory (os error 2)";
    for _ in 0..3 {
        let w = h.last_spawn(0).unwrap();
        h.handle(Event::SpawnFailed {
            worker: w,
            error: error.into(),
        });
        h.until_deadline();
    }
    assert_eq!(h.app.state(), AppState::Errored);
    let note = h.app.note().expect("a note");
    assert!(note.contains("instance 0 cannot start"), "{note}");
    assert!(note.contains("No such file or directory"), "{note}");
    assert_eq!(h.spawns().len(), 3);
}

#[test]
fn an_exec_failure_names_its_cause_when_the_slot_gives_up() {
    let mut h = Harness::start(Params {
        readiness: Readiness::Uptime,
        restart: RestartPolicy {
            max_restarts: 0,
            ..params(1).restart
        },
        ..params(1)
    });
    let w = h.current(0).unwrap();
    h.handle(Event::ExecFailed {
        worker: w,
        error: "cannot run `nope`: No such file or directory (os error 2)".into(),
    });
    h.exit(w, ExitStatus::Code(127));
    assert_eq!(h.app.state(), AppState::Errored);
    let note = h.app.note().unwrap();
    assert!(note.contains("cannot run `nope`"), "{note}");
}

#[test]
fn a_crash_after_a_stable_run_restarts_at_once_and_forgets_the_backoff() {
    let mut h = Harness::start(params(1));
    // Two quick crashes.
    for _ in 0..2 {
        let w = h.current(0).unwrap();
        h.ready(w);
        h.exit(w, ExitStatus::Code(1));
        h.until_deadline();
    }
    assert_eq!(h.app.slots()[0].unstable(), 2);
    let w = h.current(0).unwrap();
    h.ready(w);
    h.advance(ms(1000));
    assert_eq!(h.app.slots()[0].unstable(), 0, "min_uptime online resets");
    h.advance(ms(60_000));
    h.exit(w, ExitStatus::Code(1));
    assert_eq!(h.restart_delays().last(), Some(&ms(0)));
    assert_eq!(h.app.slots()[0].last_reason, Some(Reason::Crash));
    assert_eq!(h.app.slots()[0].restarts, 3);
}

#[test]
fn autorestart_off_leaves_the_slot_empty_and_stopped() {
    let mut h = Harness::start(Params {
        restart: RestartPolicy {
            autorestart: false,
            ..params(1).restart
        },
        ..params(1)
    });
    let w = h.current(0).unwrap();
    h.ready(w);
    h.exit(w, ExitStatus::Code(0));
    assert_eq!(h.app.deadline(), None);
    assert_eq!(h.app.state(), AppState::Stopped);
}

#[test]
fn shutdown_drains_everything_kills_stragglers_and_finishes() {
    let mut h = Harness::start(params(2));
    h.all_ready();
    let (a, b) = (h.current(0).unwrap(), h.current(1).unwrap());
    h.handle(Event::Shutdown);
    assert_eq!(h.stops().len(), 2);
    h.exit_ok(a);
    assert!(!h.app.finished());
    let actions = h.advance(ms(5000));
    assert_eq!(
        actions,
        vec![Action::Kill {
            worker: b,
            why: KillCause::DrainTimeout
        }]
    );
    h.exit(b, ExitStatus::Signal(nix::sys::signal::Signal::SIGKILL));
    assert!(h.app.finished());
    assert_eq!(h.spawns().len(), 2, "nothing restarted during shutdown");
    assert_eq!(h.app.state(), AppState::Stopped);
}
