//! Rolling reloads: pacing, failures, supersession and scaling.

use super::harness::{Harness, ms, params};
use crate::app::AppState;
use crate::lifecycle::{Params, Readiness, Reason, Report, StopCause};
use crate::reaper::ExitStatus;

fn online(n: usize) -> Harness {
    let mut h = Harness::start(params(n));
    h.all_ready();
    h
}

#[test]
fn a_reload_replaces_one_slot_at_a_time_new_first() {
    let mut h = online(2);
    let (a, b) = (h.current(0).unwrap(), h.current(1).unwrap());
    h.reload(params(2));
    let a2 = h.incoming(0).expect("slot 0 first");
    assert_eq!(h.incoming(1), None, "one slot at a time");
    h.ready(a2);
    assert_eq!(h.stops(), vec![(a, StopCause::Replaced(Reason::Reload))]);
    assert_eq!(h.incoming(1), None, "slot 1 waits for the old worker");
    h.exit_ok(a);
    let b2 = h.incoming(1).expect("slot 1 next");
    h.ready(b2);
    h.exit_ok(b);
    assert!(h.reports().contains(&Report::RolloutComplete));
    assert_eq!(h.app.state(), AppState::Online);
    assert_eq!(h.generation(a2), Some(1));
}

#[test]
fn a_broken_reload_without_wait_ready_stops_and_the_old_workers_keep_serving() {
    let uptime = Params {
        readiness: Readiness::Uptime,
        ..params(2)
    };
    let mut h = Harness::start(uptime.clone());
    h.advance(ms(1000));
    assert_eq!(h.app.state(), AppState::Online);
    let old = (h.current(0).unwrap(), h.current(1).unwrap());
    h.reload(uptime);
    let new = h.incoming(0).unwrap();
    // It exits before min_uptime: it was never online.
    h.advance(ms(10));
    h.exit(new, ExitStatus::Code(1));
    assert!(h.stops().is_empty(), "no old worker was stopped");
    assert_eq!((h.current(0), h.current(1)), (Some(old.0), Some(old.1)));
    assert_eq!(h.app.state(), AppState::Online, "not errored");
    let note = h.app.note().expect("why");
    assert!(
        note.contains(
            "reload stopped: new worker for instance 0 exited (exit code 1) before it was online"
        ),
        "{note}"
    );
    assert_eq!(h.app.generation(), 0, "the previous config is back");
    h.advance(ms(60_000));
    assert_eq!(h.spawns().len(), 3, "nothing more is started");
}

#[test]
fn a_reload_during_a_reload_supersedes_it() {
    let mut h = online(2);
    h.reload(params(2));
    let first = h.incoming(0).unwrap();
    h.reload(params(2));
    assert_eq!(h.stops(), vec![(first, StopCause::Superseded)]);
    let second = h.incoming(0).expect("the new rollout starts from slot 0");
    assert_eq!(h.generation(second), Some(2));
    h.reap_stopped();
    h.ready(second);
    h.reap_stopped();
    let next = h.incoming(1).unwrap();
    h.ready(next);
    h.reap_stopped();
    assert!(h.reports().contains(&Report::RolloutComplete));
    assert_eq!(h.app.workers().len(), 2);
}

#[test]
fn scaling_up_starts_new_slots_once_and_down_drains_the_highest() {
    let mut h = online(1);
    h.reload(params(3));
    let started: Vec<_> = h.spawns().into_iter().skip(1).collect();
    assert_eq!(started.len(), 3, "slot 0's replacement, two new slots");
    assert_eq!(started[1].2, Some(Reason::Scale));
    h.all_ready();
    h.reap_stopped();
    h.all_ready();
    assert!(h.reports().contains(&Report::RolloutComplete));
    let highest = h.current(2).unwrap();
    h.reload(params(2));
    assert!(h.stops().contains(&(highest, StopCause::ScaledDown)));
    assert_eq!(h.app.slots().len(), 2);
}

#[test]
fn a_reload_restarts_errored_slots() {
    let mut h = Harness::start(Params {
        restart: crate::lifecycle::policy::RestartPolicy {
            max_restarts: 0,
            ..params(1).restart
        },
        ..params(1)
    });
    let w = h.current(0).unwrap();
    h.exit(w, ExitStatus::Code(1));
    assert_eq!(h.app.state(), AppState::Errored);
    h.reload(params(1));
    assert_eq!(h.app.state(), AppState::Launching);
    let again = h.current(0).expect("started afresh");
    h.ready(again);
    assert_eq!(h.app.state(), AppState::Online);
}

#[test]
fn a_worker_is_judged_ready_by_its_own_config_even_after_a_rollback() {
    let mut h = online(2);
    let uptime = Params {
        readiness: Readiness::Uptime,
        restart: crate::lifecycle::policy::RestartPolicy {
            min_uptime: ms(3000),
            ..params(2).restart
        },
        ..params(2)
    };
    h.reload(uptime);
    let incoming = h.incoming(0).unwrap();
    // Slot 1 crashes meanwhile and restarts under the new config.
    let crashed = h.current(1).unwrap();
    h.exit(crashed, ExitStatus::Code(1));
    h.advance(ms(100));
    let restarted = h.current(1).unwrap();
    assert_eq!(h.generation(restarted), Some(1));
    // The rollout stops and puts `wait_ready` back in force...
    h.exit(incoming, ExitStatus::Code(1));
    assert_eq!(h.app.generation(), 0);
    // ... but the restarted worker was started to be online after its
    // min_uptime, and is, without READY=1.
    h.advance(ms(2900));
    assert_eq!(h.phase(restarted), Some(crate::lifecycle::Phase::Launching));
    h.advance(ms(100));
    assert_eq!(h.phase(restarted), Some(crate::lifecycle::Phase::Online));
}
