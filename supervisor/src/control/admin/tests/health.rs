//! The health verdict: a pure function of the status document.

use chrono::{TimeZone as _, Utc};

use super::{app, doc, online, worker};
use crate::app::{AppState, Health, WorkerState};
use crate::control::SupervisorState;
use crate::control::admin::health::{Verdict, assess, document};

#[test]
fn every_app_with_every_worker_online_passes() {
    let assessment = assess(&doc(vec![online("api", 100), online("jobs", 200)]));
    assert_eq!(assessment.status, Verdict::Pass);
    assert_eq!(assessment.output, None);
    assert!(assessment.apps.iter().all(|a| a.status == Verdict::Pass));
    assert_eq!(assessment.apps[0].online, 2);
}

#[test]
fn a_launching_app_warns_with_its_counts() {
    let launching = app(
        "api",
        AppState::Launching,
        vec![
            worker(0, 100, WorkerState::Online),
            worker(1, 101, WorkerState::Launching),
        ],
    );
    let assessment = assess(&doc(vec![launching, online("jobs", 200)]));
    assert_eq!(assessment.status, Verdict::Warn);
    assert_eq!(
        assessment.output.as_deref(),
        Some("api: launching, 1/2 workers online")
    );
    assert_eq!(assessment.apps[1].status, Verdict::Pass);
}

#[test]
fn an_unresponsive_worker_warns() {
    let mut api = online("api", 100);
    api.workers[1].state = WorkerState::Unresponsive;
    let assessment = assess(&doc(vec![api]));
    assert_eq!(assessment.status, Verdict::Warn);
    assert_eq!(
        assessment.output.as_deref(),
        Some("api: worker 1 (pid 101) is unresponsive")
    );
}

#[test]
fn a_failed_health_check_warns_and_a_pending_one_does_not() {
    let mut api = online("api", 100);
    api.workers[0].health = Some(Health::Pending);
    api.workers[1].health = Some(Health::Pass);
    assert_eq!(assess(&doc(vec![api.clone()])).status, Verdict::Pass);
    api.workers[1].health = Some(Health::Fail);
    api.workers[1].health_detail = Some("status 500".into());
    let assessment = assess(&doc(vec![api]));
    assert_eq!(assessment.status, Verdict::Warn);
    assert_eq!(
        assessment.output.as_deref(),
        Some("api: worker 1 (pid 101) fails its health check: status 500")
    );
}

#[test]
fn a_stopped_reload_warns_while_the_old_workers_serve() {
    let mut api = online("api", 100);
    api.note = Some("reload stopped: worker 0 exited at start".into());
    let assessment = assess(&doc(vec![api]));
    assert_eq!(assessment.status, Verdict::Warn);
    assert_eq!(
        assessment.output.as_deref(),
        Some("api: reload stopped: worker 0 exited at start")
    );
}

#[test]
fn an_app_stopped_or_stopping_by_an_operator_warns() {
    let stopped = app("api", AppState::Stopped, vec![]);
    assert_eq!(assess(&doc(vec![stopped])).status, Verdict::Warn);
    let stopping = app(
        "api",
        AppState::Stopping,
        vec![worker(0, 100, WorkerState::Stopping)],
    );
    let assessment = assess(&doc(vec![stopping]));
    assert_eq!(assessment.status, Verdict::Warn);
    assert_eq!(
        assessment.output.as_deref(),
        Some("api: stopping, 0/1 workers online")
    );
}

#[test]
fn an_errored_app_fails_the_host_and_only_it_is_named() {
    let mut broken = app("broken", AppState::Errored, vec![]);
    broken.desired = 1;
    broken.note = Some("worker 0 exited 16 times in a row".into());
    let launching = app(
        "jobs",
        AppState::Launching,
        vec![worker(0, 300, WorkerState::Launching)],
    );
    let assessment = assess(&doc(vec![online("api", 100), broken, launching]));
    assert_eq!(assessment.status, Verdict::Fail);
    assert_eq!(
        assessment.output.as_deref(),
        Some("broken: errored: worker 0 exited 16 times in a row")
    );
    let verdicts: Vec<Verdict> = assessment.apps.iter().map(|a| a.status).collect();
    assert_eq!(verdicts, [Verdict::Pass, Verdict::Fail, Verdict::Warn]);
}

#[test]
fn a_stopping_supervisor_fails_whatever_its_apps_say() {
    let mut status = doc(vec![online("api", 100)]);
    status.supervisor.state = SupervisorState::Stopping;
    let assessment = assess(&status);
    assert_eq!(assessment.status, Verdict::Fail);
    assert_eq!(
        assessment.output.as_deref(),
        Some("the supervisor is shutting down")
    );
    assert_eq!(assessment.apps[0].status, Verdict::Pass);
}

#[test]
fn no_app_yet_warns() {
    let assessment = assess(&doc(vec![]));
    assert_eq!(assessment.status, Verdict::Warn);
}

#[test]
fn the_document_follows_the_health_json_draft() {
    let mut launching = online("jobs", 200);
    launching.state = AppState::Launching;
    let status = doc(vec![online("api", 100), launching]);
    let now = Utc.with_ymd_and_hms(2025, 6, 7, 8, 9, 10).unwrap();
    let text = document(&assess(&status), &status, now).expect("encoded");
    let text = String::from_utf8(text).expect("UTF-8");
    assert!(text.starts_with(r#"{"status":"warn","#), "{text}");
    let body: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(body["status"], "warn");
    assert_eq!(body["output"], "jobs: launching, 2/2 workers online");
    assert_eq!(body["releaseId"], "9.8.7");
    assert_eq!(body["serviceId"], "corral");
    assert_eq!(
        body["description"],
        "corral supervisor (pid 4242) of /srv/api/ecosystem.toml"
    );
    let api = &body["checks"]["api:workers"][0];
    assert_eq!(api["componentId"], "api");
    assert_eq!(api["componentType"], "component");
    assert_eq!(api["observedValue"], 2);
    assert_eq!(api["observedUnit"], "workers online");
    assert_eq!(api["status"], "pass");
    assert_eq!(api["time"], "2025-06-07T08:09:10.000Z");
    assert!(api.get("output").is_none(), "{api}");
    assert_eq!(body["checks"]["jobs:workers"][0]["status"], "warn");
    let mut passing = status.clone();
    passing.apps.truncate(1);
    let text = document(&assess(&passing), &passing, now).expect("encoded");
    let body: serde_json::Value = serde_json::from_slice(&text).expect("JSON");
    assert_eq!(body["status"], "pass");
    assert!(body.get("output").is_none(), "{body}");
}
