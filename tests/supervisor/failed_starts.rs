//! Failed starts: a worker that exits or cannot start before it was ever
//! online is never taken for a working one. A reload to such a build stops
//! with the old workers serving; a command or `cwd` that does not exist is
//! named in the supervisor's log and errors the app without telling systemd
//! `READY=1`; a worker that fails later than `min_uptime` still backs off.

use std::collections::BTreeSet;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::helper::{Corral, FakeSystemd, Load, alive, get_json, pid_of};

/// Long enough to see a restart or a rollout's next step, were there one:
/// every backoff and readiness timer below is shorter.
const WATCH: Duration = Duration::from_millis(1500);

fn serving(mark: &str, min_uptime: &str, env: &str) -> String {
    format!(
        r#"
        [[apps]]
        name = "api"
        command = "{{worker}}"
        instances = 2
        listen = ["127.0.0.1:0"]
        min_uptime = "{min_uptime}"
        exp_backoff_restart_delay = "100ms"
        [apps.env]
        TW_MARK = "{mark}"
        {env}
        "#
    )
}

/// Load clients: each has at most one request in flight.
const CLIENTS: usize = 2;

/// Without `wait_ready` (readiness is "stayed up for `min_uptime`"), a
/// reload to a build whose workers die before that stops at the first
/// slot, and the two old workers serve throughout and afterwards.
///
/// A new worker that runs for a while accepts from the shared socket like
/// any other; when it dies, the requests it was answering at that instant
/// are reset (at most one per client): `resets_allowed`. One that exits at
/// once fails none.
fn a_reload_to_a_build_that_dies_before_min_uptime_stops(
    min_uptime: &str,
    env: &str,
    resets_allowed: usize,
) {
    let mut corral = Corral::start(&serving("old", "200ms", ""));
    let old: BTreeSet<i32> = corral.wait_online().into_iter().collect();
    let addr = corral.listen_addr();
    let load = Load::start(addr, CLIENTS);
    corral.write_config(&serving("new", min_uptime, env));
    corral.signal(Signal::SIGHUP);
    let stopped = corral.wait_for("the rollout's end", |e| {
        e["message"] == "reload stopped; the old workers keep serving"
            || e["message"] == "reload complete"
    });
    let exited = corral.events("worker exited");
    let reason = stopped["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("instance 0") && reason.contains("before it was online"),
        "the rollout went past the first slot: {stopped}; exits: {exited:?}"
    );
    assert_eq!(exited.len(), 1, "only the new worker exited: {exited:?}");
    assert_eq!(exited[0]["failed_start"], true);
    let spawned = corral.spawned_pids().len();
    corral.observe(WATCH);
    let report = load.stop();
    assert!(report.ok > 0);
    let resets = report.failures.iter().all(|f| torn_down(f));
    assert!(
        report.failures.len() <= resets_allowed && resets,
        "{:?}",
        report.failures
    );
    assert_eq!(
        corral.spawned_pids().len(),
        spawned,
        "nothing is spawned after the rollout stopped"
    );
    assert!(corral.events("app errored").is_empty());
    let mut answering = BTreeSet::new();
    for _ in 0..2000 {
        let info = get_json(addr, "/info");
        assert_eq!(info["env_TW_MARK"], "old", "{info}");
        answering.insert(info["pid"].as_i64().expect("pid") as i32);
        if answering == old {
            break;
        }
    }
    assert_eq!(answering, old, "both old workers still answer");
}

/// Whether a failed request is one whose connection the server tore down
/// (reset, or closed before answering), as a dying process does.
fn torn_down(failure: &str) -> bool {
    ["reset by peer", "Broken pipe", "incomplete response"]
        .iter()
        .any(|sign| failure.contains(sign))
}

#[test]
fn without_wait_ready_a_reload_to_a_command_that_exits_at_once_stops_and_the_old_workers_serve() {
    a_reload_to_a_build_that_dies_before_min_uptime_stops("200ms", "TW_EXIT_AT_START = \"1\"", 0);
}

#[test]
fn without_wait_ready_a_reload_to_a_worker_that_exits_before_min_uptime_stops_and_the_old_workers_serve()
 {
    // A margin of 3 s between the exit and min_uptime, for a busy machine.
    a_reload_to_a_build_that_dies_before_min_uptime_stops(
        "5s",
        "TW_EXIT_AFTER_MS = \"2000\"",
        CLIENTS,
    );
}

/// Runs an app that cannot start, under a fake systemd; checks the log
/// names `cause` at ERROR, the app ends errored with it, and systemd never
/// hears `READY=1`.
fn a_start_that_cannot_happen_is_named_and_errors_the_app(app: &str, cause: &str) {
    let systemd = FakeSystemd::start();
    let mut corral = Corral::start_with(app, |cmd| {
        cmd.env("NOTIFY_SOCKET", systemd.path());
    });
    let cannot = corral.wait_message("worker cannot start");
    assert_eq!(cannot["level"], "ERROR", "{cannot}");
    let error = cannot["error"].as_str().expect("an error field");
    assert!(
        error.contains(cause) && error.contains("No such file or directory"),
        "{error}"
    );
    let errored = corral.wait_message("app errored");
    let reason = errored["reason"].as_str().expect("a reason field");
    assert!(
        reason.contains(cause) && reason.contains("No such file or directory"),
        "{reason}"
    );
    assert_eq!(
        corral.spawned_pids().len(),
        corral.events("worker exited").len(),
        "every process that ran was reaped"
    );
    let mut told = systemd.until("the errored status", |l| {
        l.starts_with("STATUS=api errored")
    });
    corral.signal(Signal::SIGTERM);
    told.extend(systemd.until("STOPPING=1", |line| line == "STOPPING=1"));
    assert!(
        told.iter().all(|m| !m.lines().any(|l| l == "READY=1")),
        "systemd was told READY=1: {told:?}"
    );
    assert!(corral.wait_exit(Duration::from_secs(10)).success());
    assert!(corral.events("all apps online").is_empty());
}

#[test]
fn a_command_that_does_not_exist_is_named_at_error_and_errors_the_app_without_ready() {
    a_start_that_cannot_happen_is_named_and_errors_the_app(
        r#"
        [[apps]]
        name = "api"
        command = "./no-such-server"
        max_restarts = 1
        exp_backoff_restart_delay = "10ms"
        "#,
        "no-such-server",
    );
}

#[test]
fn a_cwd_that_does_not_exist_is_named_at_error_and_errors_the_app_without_ready() {
    a_start_that_cannot_happen_is_named_and_errors_the_app(
        r#"
        [[apps]]
        name = "api"
        command = "{worker}"
        cwd = "no-such-dir"
        max_restarts = 1
        exp_backoff_restart_delay = "10ms"
        "#,
        "no-such-dir",
    );
}

#[test]
fn a_worker_that_fails_readiness_later_than_min_uptime_backs_off_instead_of_looping() {
    let mut corral = Corral::start(
        r#"
        [[apps]]
        name = "api"
        command = "{worker}"
        wait_ready = true
        listen_timeout = "10s"
        min_uptime = "200ms"
        max_restarts = 3
        exp_backoff_restart_delay = "100ms"
        [apps.env]
        TW_NO_READY = "1"
        TW_EXIT_AFTER_MS = "500"
        "#,
    );
    let errored = corral.wait_message("app errored");
    assert!(
        errored["reason"]
            .as_str()
            .is_some_and(|r| r.contains("failed 4 times in a row")),
        "{errored}"
    );
    let delays: Vec<i64> = corral
        .events("restarting worker")
        .iter()
        .map(|e| e["delay_ms"].as_i64().expect("delay_ms"))
        .collect();
    assert_eq!(delays, vec![100, 200, 400], "the backoff doubles");
    let exited = corral.events("worker exited");
    assert_eq!(exited.len(), 4, "the first start and three restarts");
    for exit in &exited {
        assert_eq!(exit["failed_start"], true, "{exit}");
        assert!(
            exit["uptime_ms"].as_i64().expect("uptime_ms") >= 500,
            "it lived past min_uptime: {exit}"
        );
        assert!(!alive(pid_of(exit)));
    }
    assert!(corral.events("worker online").is_empty());
}
