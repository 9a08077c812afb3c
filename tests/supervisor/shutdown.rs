//! Graceful shutdown: SIGTERM drains in-flight requests; stragglers and
//! their children are SIGKILLed at `kill_timeout`; a SIGKILLed supervisor
//! takes its workers with it.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::helper::{Corral, get, get_json, wait_gone};

#[test]
fn sigterm_lets_every_in_flight_request_finish_and_leaves_no_process() {
    let mut corral = Corral::start(
        r#"
        [[apps]]
        name = "api"
        command = "{worker}"
        instances = 2
        listen = ["127.0.0.1:0"]
        wait_ready = true
        kill_timeout = "5s"
        [apps.env]
        TW_SPAWN_CHILD = "1"
        "#,
    );
    corral.wait_online();
    let addr = corral.listen_addr();
    let requests: Vec<_> = (0..6)
        .map(|_| std::thread::spawn(move || get(addr, "/slow?ms=1500")))
        .collect();
    corral.wait_log("api-out.log", "slow request started", 6);
    let started = Instant::now();
    corral.signal(Signal::SIGTERM);
    for request in requests {
        let (status, body) = request
            .join()
            .expect("client thread")
            .expect("request completes");
        assert_eq!(status, 200, "{body}");
    }
    let status = corral.wait_exit(Duration::from_secs(5));
    assert!(status.success(), "corral exited with {status}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown took longer than kill_timeout"
    );
    let left = wait_gone(&corral.spawned_pids(), Duration::ZERO);
    assert!(left.is_empty(), "workers left behind: {left:?}");
    let stopped = corral.events("worker stopped");
    assert_eq!(stopped.len(), 2, "both workers stopped: {stopped:?}");
    assert!(
        stopped.iter().all(|e| e["status"] == "exit code 0"),
        "workers drained and exited 0: {stopped:?}"
    );
}

#[test]
fn a_worker_ignoring_sigterm_is_killed_with_its_children_at_kill_timeout() {
    let mut corral = Corral::start(
        r#"
        [[apps]]
        name = "api"
        command = "{worker}"
        listen = ["127.0.0.1:0"]
        wait_ready = true
        kill_timeout = "1s"
        [apps.env]
        TW_IGNORE_TERM = "1"
        TW_SPAWN_CHILD = "1"
        "#,
    );
    corral.wait_online();
    let info = get_json(corral.listen_addr(), "/info");
    let worker = info["pid"].as_i64().expect("pid") as i32;
    let child = info["child_pid"].as_i64().expect("child pid") as i32;
    let started = Instant::now();
    corral.signal(Signal::SIGTERM);
    let status = corral.wait_exit(Duration::from_secs(4));
    let took = started.elapsed();
    assert!(status.success(), "corral exited with {status}");
    assert!(
        took >= Duration::from_millis(950),
        "killed before kill_timeout: {took:?}"
    );
    assert!(
        took < Duration::from_secs(3),
        "shutdown overran kill_timeout: {took:?}"
    );
    let left = wait_gone(&[worker, child], Duration::ZERO);
    assert!(left.is_empty(), "left behind: {left:?}");
    let stopped = corral.wait_message("worker stopped");
    assert_eq!(stopped["status"], "signal SIGKILL");
}

#[test]
fn a_sigkilled_supervisor_takes_every_worker_down_within_a_second() {
    let mut corral = Corral::start(
        r#"
        [[apps]]
        name = "api"
        command = "{worker}"
        instances = 2
        wait_ready = true
        "#,
    );
    let pids = corral.wait_online();
    corral.signal(Signal::SIGKILL);
    corral.wait_exit(Duration::from_secs(2));
    let left = wait_gone(&pids, Duration::from_secs(1));
    assert!(left.is_empty(), "workers outlived the supervisor: {left:?}");
}
