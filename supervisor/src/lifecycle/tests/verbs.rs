//! The operator's verbs: stop, start, restart all at once, scale.

use super::harness::{Harness, params};
use crate::app::AppState;
use crate::lifecycle::{Event, Reason, StopCause};

fn online(n: usize) -> Harness {
    let mut h = Harness::start(params(n));
    h.all_ready();
    h
}

#[test]
fn stop_drains_every_worker_and_start_brings_the_app_back() {
    let mut h = online(2);
    let (a, b) = (h.current(0).unwrap(), h.current(1).unwrap());
    h.handle(Event::Stop);
    assert_eq!(
        h.stops(),
        vec![(a, StopCause::Stopped), (b, StopCause::Stopped)]
    );
    assert_eq!(h.app.state(), AppState::Stopping);
    h.reap_stopped();
    assert_eq!(h.app.state(), AppState::Stopped);
    assert_eq!(h.spawns().len(), 2, "nothing restarted while stopped");
    h.handle(Event::Start);
    assert_eq!(h.spawns().len(), 4);
    h.all_ready();
    assert_eq!(h.app.state(), AppState::Online);
}

#[test]
fn restart_replaces_every_worker_at_once_for_manual() {
    let mut h = online(2);
    let old = (h.current(0).unwrap(), h.current(1).unwrap());
    h.handle(Event::Restart);
    let spawned: Vec<_> = h.spawns().into_iter().skip(2).collect();
    assert_eq!(spawned.len(), 2, "every slot at once");
    assert!(spawned.iter().all(|s| s.2 == Some(Reason::Manual)));
    assert_eq!(
        h.stops(),
        vec![(old.0, StopCause::Restarted), (old.1, StopCause::Restarted)]
    );
    h.all_ready();
    h.reap_stopped();
    assert_eq!(h.app.state(), AppState::Online);
    assert_eq!(h.app.restarts().get(&Reason::Manual), Some(&2));
}

#[test]
fn scale_adds_slots_at_once_and_drains_the_highest() {
    let mut h = online(1);
    h.handle(Event::Scale(3));
    let added: Vec<_> = h.spawns().into_iter().skip(1).collect();
    assert_eq!(added.len(), 2);
    assert!(added.iter().all(|s| s.2 == Some(Reason::Scale)));
    h.all_ready();
    assert_eq!(h.app.state(), AppState::Online);
    let highest = h.current(2).unwrap();
    h.handle(Event::Scale(2));
    assert_eq!(h.stops(), vec![(highest, StopCause::ScaledDown)]);
    assert_eq!(h.app.slots().len(), 2);
}

#[test]
fn start_restarts_an_errored_slot_of_a_running_app() {
    let mut h = Harness::start(crate::lifecycle::Params {
        restart: crate::lifecycle::policy::RestartPolicy {
            max_restarts: 0,
            ..params(1).restart
        },
        ..params(1)
    });
    let w = h.current(0).unwrap();
    h.exit(w, crate::reaper::ExitStatus::Code(1));
    assert_eq!(h.app.state(), AppState::Errored);
    h.handle(Event::Start);
    h.all_ready();
    assert_eq!(h.app.state(), AppState::Online);
}
