//! Restart policy: crashed workers come back, unstable ones back off and
//! end up `errored` without taking the supervisor or other apps down.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::helper::{Corral, Load, get, get_json};

#[test]
fn a_killed_worker_is_replaced_while_the_others_keep_serving() {
    let mut corral = Corral::start(
        r#"
        [[apps]]
        name = "api"
        command = "{worker}"
        instances = 2
        listen = ["127.0.0.1:0"]
        wait_ready = true
        "#,
    );
    let before = corral.wait_online();
    let addr = corral.listen_addr();
    let load = Load::start(addr, 2);
    let victim = before[0];
    kill(Pid::from_raw(victim), Signal::SIGKILL).expect("kill worker");
    let replacement = corral.wait_for("a replacement online", |e| {
        e["message"] == "worker online"
            && !before.contains(&(e["pid"].as_i64().unwrap_or(0) as i32))
    });
    let new_pid = replacement["pid"].as_i64().expect("pid");
    let served = (0..5000).any(|_| get_json(addr, "/")["pid"] == new_pid);
    let report = load.stop();
    assert!(served, "the replacement never answered on the shared port");
    assert!(report.ok > 0);
    // Only a connection the victim itself had accepted at the instant of
    // SIGKILL can fail; everything queued is served by the others.
    assert!(
        report.failures.len() <= 1,
        "failed requests: {:?}",
        report.failures
    );
}

#[test]
fn a_worker_that_exits_at_once_backs_off_exponentially_then_the_app_is_errored() {
    let mut corral = Corral::start(
        r#"
        [[apps]]
        name = "good"
        command = "{worker}"
        listen = ["127.0.0.1:0"]

        [[apps]]
        name = "bad"
        command = "{worker}"
        min_uptime = "1s"
        max_restarts = 3
        exp_backoff_restart_delay = "50ms"
        [apps.env]
        TW_EXIT_AT_START = "1"
        "#,
    );
    corral.wait_for("app errored", |e| {
        e["message"] == "app errored" && e["app"] == "bad"
    });
    let delays: Vec<i64> = corral
        .events("restarting worker")
        .iter()
        .filter(|e| e["app"] == "bad")
        .map(|e| e["delay_ms"].as_i64().expect("delay"))
        .collect();
    assert_eq!(delays, vec![50, 100, 200]);
    let bad_spawns = corral
        .events("worker spawned")
        .iter()
        .filter(|e| e["app"] == "bad")
        .count();
    assert_eq!(bad_spawns, 4, "the first start plus max_restarts restarts");
    // The supervisor and its other app carry on.
    let addr = corral.listen_addr();
    assert_eq!(get(addr, "/").expect("good app serves").0, 200);
}
