//! Readiness: with `wait_ready`, a worker is online only after READY=1, and
//! one that never says it within `listen_timeout` is a failed start; without
//! it, only once it has stayed up for `min_uptime`.

use crate::helper::{Corral, alive};

#[test]
fn a_worker_not_ready_within_listen_timeout_is_killed_as_a_failed_start() {
    let mut corral = Corral::start(
        r#"
        [[apps]]
        name = "mute"
        command = "{worker}"
        wait_ready = true
        listen_timeout = "300ms"
        max_restarts = 1
        exp_backoff_restart_delay = "10ms"
        [apps.env]
        TW_NO_READY = "1"
        "#,
    );
    let exited = corral.wait_message("worker exited");
    assert_eq!(exited["failed_start"], true);
    assert_eq!(exited["status"], "signal SIGKILL");
    assert!(exited["uptime_ms"].as_i64().expect("uptime") >= 300);
    corral.wait_message("app errored");
    assert!(
        corral.events("worker online").is_empty(),
        "a worker without READY=1 is never online"
    );
    for pid in corral.spawned_pids() {
        assert!(!alive(pid), "worker {pid} was not killed");
    }
}

#[test]
fn without_wait_ready_or_health_check_a_worker_is_online_once_it_stayed_up_for_min_uptime() {
    let mut corral = Corral::start(
        r#"
        [[apps]]
        name = "api"
        command = "{worker}"
        min_uptime = "500ms"
        [apps.env]
        TW_NO_READY = "1"
        "#,
    );
    assert_eq!(corral.wait_online().len(), 1);
    let spawned = corral.events("worker spawned")[0]["timestamp"].clone();
    let online = corral.events("worker online")[0]["timestamp"].clone();
    let at = |t: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(t.as_str().expect("timestamp")).expect("rfc3339")
    };
    let waited = at(&online) - at(&spawned);
    assert!(
        waited >= chrono::TimeDelta::milliseconds(450),
        "online after {waited}"
    );
}
