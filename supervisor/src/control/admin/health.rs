//! `/health`: whether this host should get traffic, in the
//! `application/health+json` format of the IETF draft
//! draft-inadarei-api-health-check, with one check per app.
//!
//! The rules, worst first (the host takes the worst verdict of its apps):
//! - `fail` (HTTP 503): the supervisor is shutting down, or an app is
//!   errored (it gave up restarting a worker). A balancer takes the host
//!   out of rotation.
//! - `warn` (HTTP 200): an app is degraded but serving or deliberately so:
//!   launching (some workers not online yet), stopping or stopped by an
//!   operator, a worker unresponsive or failing its health check, or its
//!   last reload stopped (the old workers serve on).
//! - `pass` (HTTP 200): every app has all its workers online and, where
//!   it has a `health_check`, none failing it (a probe that has not
//!   answered yet is not a failure).

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::app::{AppState, AppStatus, Health, WorkerState};
use crate::control::{StatusDoc, SupervisorState};

/// A verdict of the draft, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Verdict {
    /// Healthy.
    Pass,
    /// Healthy, with concerns.
    Warn,
    /// Unhealthy.
    Fail,
}

/// The verdict on the host and on each app, with why.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Assessment {
    /// The worst of the apps' verdicts, or `fail` while shutting down.
    pub status: Verdict,
    /// Why it is not `pass`.
    pub output: Option<String>,
    /// Each app, in name order.
    pub apps: Vec<AppVerdict>,
}

/// The verdict on one app.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct AppVerdict {
    /// The app's name.
    pub app: String,
    /// Its verdict.
    pub status: Verdict,
    /// Its workers online now.
    pub online: usize,
    /// Why it is not `pass`.
    pub output: Option<String>,
}

/// Applies the rules of the module doc to `doc`.
pub(super) fn assess(doc: &StatusDoc) -> Assessment {
    let apps: Vec<AppVerdict> = doc.apps.iter().map(judge).collect();
    let worst = apps.iter().map(|a| a.status).max();
    let (status, output) = if doc.supervisor.state == SupervisorState::Stopping {
        (
            Verdict::Fail,
            Some("the supervisor is shutting down".into()),
        )
    } else if let Some(worst) = worst {
        let why: Vec<String> = apps
            .iter()
            .filter(|a| a.status == worst)
            .filter_map(|a| Some(format!("{}: {}", a.app, a.output.as_deref()?)))
            .collect();
        (worst, (!why.is_empty()).then(|| why.join("; ")))
    } else {
        (Verdict::Warn, Some("no app has started yet".into()))
    };
    Assessment {
        status,
        output,
        apps,
    }
}

fn judge(app: &AppStatus) -> AppVerdict {
    let (status, output) = verdict(app);
    AppVerdict {
        app: app.name.clone(),
        status,
        online: app.online,
        output,
    }
}

fn verdict(app: &AppStatus) -> (Verdict, Option<String>) {
    let counts = format!("{}/{} workers online", app.online, app.desired);
    let state = match app.state {
        AppState::Online => None,
        AppState::Errored => {
            let why = app.note.as_deref().unwrap_or("see `corral logs`");
            return (Verdict::Fail, Some(format!("errored: {why}")));
        }
        AppState::Launching => Some(format!("launching, {counts}")),
        AppState::Stopping => Some(format!("stopping, {counts}")),
        AppState::Stopped => Some("stopped".to_owned()),
    };
    let unresponsive = app
        .workers
        .iter()
        .find(|w| w.state == WorkerState::Unresponsive)
        .map(|w| format!("worker {} (pid {}) is unresponsive", w.instance, w.pid));
    let unhealthy = app
        .workers
        .iter()
        .find(|w| w.state == WorkerState::Online && w.health == Some(Health::Fail))
        .map(|w| {
            let why = w.health_detail.as_deref().unwrap_or("no detail");
            format!(
                "worker {} (pid {}) fails its health check: {why}",
                w.instance, w.pid
            )
        });
    let short = (app.online < app.desired).then_some(counts);
    let concern = state
        .or(unresponsive)
        .or(unhealthy)
        .or_else(|| app.note.clone())
        .or(short);
    match concern {
        Some(why) => (Verdict::Warn, Some(why)),
        None => (Verdict::Pass, None),
    }
}

/// The response body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a> {
    status: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<&'a str>,
    release_id: &'a str,
    service_id: &'static str,
    description: String,
    checks: BTreeMap<String, [Check<'a>; 1]>,
}

/// One app's check, keyed `<app>:workers`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Check<'a> {
    component_id: &'a str,
    component_type: &'static str,
    observed_value: usize,
    observed_unit: &'static str,
    status: Verdict,
    time: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<&'a str>,
}

/// `assessment` of `doc` as the health+json document, as of `now`, with
/// `status` first for whoever reads it by eye.
pub(super) fn document(
    assessment: &Assessment,
    doc: &StatusDoc,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, serde_json::Error> {
    let time = now.to_rfc3339_opts(SecondsFormat::Millis, true);
    let checks = assessment
        .apps
        .iter()
        .map(|app| {
            let check = Check {
                component_id: &app.app,
                component_type: "component",
                observed_value: app.online,
                observed_unit: "workers online",
                status: app.status,
                time: &time,
                output: app.output.as_deref(),
            };
            (format!("{}:workers", app.app), [check])
        })
        .collect();
    let document = Document {
        status: assessment.status,
        output: assessment.output.as_deref(),
        release_id: &doc.supervisor.version,
        service_id: "corral",
        description: format!(
            "corral supervisor (pid {}) of {}",
            doc.supervisor.pid,
            doc.supervisor.ecosystem.display()
        ),
        checks,
    };
    serde_json::to_vec(&document)
}
