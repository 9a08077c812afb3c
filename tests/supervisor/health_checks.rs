//! HTTP health checks on each worker's private socket: a worker that fails
//! them `failures` times in a row (answering 500, or not at all because it
//! is stopped) is replaced new-first, failing no request on the shared
//! port; and without `wait_ready`, a worker is online only once a probe
//! passes.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::helper::{Corral, Load, get_json, pid_of, time_between, wait_gone};

const INTERVAL: Duration = Duration::from_millis(200);
const TIMEOUT: Duration = Duration::from_millis(200);
const FAILURES: u32 = 3;
const KILL_TIMEOUT: Duration = Duration::from_secs(3);

/// The config's health check and kill timeout, as the constants say.
fn checked(wait_ready: bool, env: &str) -> String {
    format!(
        r#"
        [[apps]]
        name = "api"
        command = "{{worker}}"
        instances = 2
        listen = ["127.0.0.1:0"]
        wait_ready = {wait_ready}
        listen_timeout = "10s"
        min_uptime = "200ms"
        kill_timeout = "{kill}ms"
        health_check = {{ interval = "{interval}ms", timeout = "{timeout}ms", grace_period = "0s", failures = {FAILURES} }}
        [apps.env]
        {env}
        "#,
        kill = KILL_TIMEOUT.as_millis(),
        interval = INTERVAL.as_millis(),
        timeout = TIMEOUT.as_millis(),
    )
}

/// Makes one of two online workers sick with `sicken`, and checks it is
/// replaced new-first for `health` in time, with no failed request.
/// Returns the sick worker's "worker stopped" event.
fn a_sick_worker_is_replaced(sicken: impl FnOnce(&Corral, i32)) -> serde_json::Value {
    let mut corral = Corral::start(&checked(true, ""));
    let before = corral.wait_online();
    let load = Load::start(corral.listen_addr(), 2);
    let sick = before[1];
    sicken(&corral, sick);

    let replacing = corral.wait_message("replacing worker");
    assert_eq!(pid_of(&replacing), sick);
    assert_eq!(replacing["reason"], "health");
    let failed = corral.events_of("health check failed", sick);
    assert_eq!(failed.len(), FAILURES as usize, "{failed:?}");
    let spawned = corral.wait_for("the replacement spawned", |e| {
        e["message"] == "worker spawned" && e["reason"] == "health"
    });
    let new = pid_of(&spawned);
    corral.wait_for("the replacement online", |e| {
        e["message"] == "worker online" && pid_of(e) == new
    });
    let stopping = corral.wait_for("the sick worker told to stop", |e| {
        e["message"] == "stopping worker" && pid_of(e) == sick
    });
    let stopped = corral.wait_for("the sick worker gone", |e| {
        e["message"] == "worker stopped" && pid_of(e) == sick
    });
    // Probes keep their cadence even when each hangs until its timeout
    // (by the supervisor's own clock: the replacement's start-up time is
    // the worker's, not the supervisor's), and the old worker drains
    // before kill_timeout.
    let detected = time_between(&failed[0], &replacing);
    assert!(
        detected < INTERVAL * FAILURES,
        "{FAILURES} failures took {detected:?}: the probes lost their cadence"
    );
    let drained = time_between(&stopping, &stopped);
    assert!(drained < KILL_TIMEOUT, "drained in {drained:?}");
    let report = load.stop();
    assert!(report.ok > 0);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert!(wait_gone(&[sick], Duration::from_secs(1)).is_empty());
    assert!(
        corral.events_of("stopping worker", before[0]).is_empty(),
        "the healthy worker is left alone"
    );
    stopped
}

#[test]
fn a_worker_whose_health_check_fails_is_replaced_new_first_without_a_failed_request() {
    a_sick_worker_is_replaced(|corral, sick| {
        let set = get_json(corral.health_addr(sick), "/health/set?mode=fail");
        assert_eq!(set["pid"], sick);
    });
}

#[test]
fn a_stopped_worker_is_replaced_then_continued_so_it_drains() {
    let stopped = a_sick_worker_is_replaced(|_, sick| {
        kill(Pid::from_raw(sick), Signal::SIGSTOP).expect("SIGSTOP");
    });
    // SIGCONT after the kill signal let it drain and exit by itself,
    // before kill_timeout.
    assert_eq!(stopped["status"], "exit code 0", "{stopped}");
}

#[test]
fn without_wait_ready_a_worker_is_online_only_after_a_passing_probe() {
    let mut corral = Corral::start(&checked(false, "TW_HEALTH = \"fail\""));
    // Five times min_uptime, which alone would make a worker online
    // without a health check; its probes fail meanwhile, and it serves.
    corral.observe(Duration::from_secs(1));
    let mut launching = corral.spawned_pids();
    assert_eq!(launching.len(), 2);
    let answer = get_json(corral.listen_addr(), "/");
    assert!(launching.contains(&pid_of(&answer)), "{answer}");
    assert!(
        corral.events("worker online").is_empty(),
        "online without a passing probe"
    );
    assert!(
        corral.events("health check failed").is_empty(),
        "a launching worker's failed probes are not counted"
    );
    for &pid in &launching {
        let set = get_json(corral.health_addr(pid), "/health/set?mode=pass");
        assert_eq!(set["health"], "pass");
    }
    let mut online = corral.wait_online();
    online.sort_unstable();
    launching.sort_unstable();
    assert_eq!(online, launching, "the same workers, none restarted");
    assert!(corral.events("worker exited").is_empty());
}
