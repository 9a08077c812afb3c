//! `watchdog`: a worker gets `WATCHDOG_USEC` and must send `WATCHDOG=1`
//! within each period; one that keeps beating is left alone, one that
//! stops is replaced new-first, failing no request.

use std::time::Duration;

use crate::helper::{Corral, Load, get_json, pid_of, wait_gone};

#[test]
fn a_worker_that_stops_its_heartbeats_is_replaced_and_one_that_beats_is_not() {
    let mut corral = Corral::start(
        r#"
        [[apps]]
        name = "api"
        command = "{worker}"
        instances = 2
        listen = ["127.0.0.1:0"]
        wait_ready = true
        kill_timeout = "3s"
        watchdog = "500ms"
        "#,
    );
    let before = corral.wait_online();
    let addr = corral.listen_addr();
    let load = Load::start(addr, 2);
    // Four periods of heartbeats: nobody is replaced.
    corral.observe(Duration::from_secs(2));
    assert!(
        corral.events("replacing worker").is_empty(),
        "a worker that beats is left alone"
    );

    let silent = before[0];
    let stop = get_json(corral.health_addr(silent), "/watchdog/stop");
    assert_eq!(stop["pid"], silent);
    let replacing = corral.wait_message("replacing worker");
    assert_eq!(pid_of(&replacing), silent);
    assert_eq!(replacing["reason"], "watchdog");
    let spawned = corral.wait_for("the replacement spawned", |e| {
        e["message"] == "worker spawned" && e["reason"] == "watchdog"
    });
    let new = pid_of(&spawned);
    corral.wait_for("the replacement online", |e| {
        e["message"] == "worker online" && pid_of(e) == new
    });
    corral.wait_for("the silent worker told to stop", |e| {
        e["message"] == "stopping worker" && pid_of(e) == silent
    });
    corral.wait_for("the silent worker stopped", |e| {
        e["message"] == "worker stopped" && pid_of(e) == silent
    });
    let report = load.stop();
    assert!(report.ok > 0);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert!(wait_gone(&[silent], Duration::from_secs(1)).is_empty());
    // The replacement beats too: two more periods, no other replacement.
    corral.observe(Duration::from_secs(1));
    assert_eq!(corral.events("replacing worker").len(), 1);
    assert!(corral.events_of("stopping worker", before[1]).is_empty());
}
