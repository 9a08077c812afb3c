//! Unit tests of the admin endpoints' pure parts: the health verdict and
//! the metrics text, on status documents built here.

mod health;
mod metrics;

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone as _, Utc};

use crate::app::{AppState, AppStatus, DroppedLines, WorkerState, WorkerStatus};
use crate::control::{StatusDoc, SupervisorInfo, SupervisorState};

/// When every fixture worker was spawned.
fn spawned() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap()
}

/// A running supervisor with `apps`.
fn doc(apps: Vec<AppStatus>) -> StatusDoc {
    StatusDoc {
        version: crate::control::schema::VERSION,
        supervisor: SupervisorInfo {
            pid: 4242,
            version: "9.8.7".into(),
            started_at: spawned(),
            ecosystem: "/srv/api/ecosystem.toml".into(),
            log_dir: "/srv/api/logs".into(),
            state: SupervisorState::Running,
        },
        apps,
    }
}

/// An app in `state` with `workers`; as many desired as listed, and
/// online the ones that are.
fn app(name: &str, state: AppState, workers: Vec<WorkerStatus>) -> AppStatus {
    AppStatus {
        name: name.into(),
        manager: 1,
        state,
        desired: workers.len(),
        online: workers
            .iter()
            .filter(|w| w.state == WorkerState::Online)
            .count(),
        restarts: BTreeMap::new(),
        dropped_lines: DroppedLines::default(),
        note: None,
        workers,
    }
}

/// A worker of slot `instance` with no samples and no health check yet.
fn worker(instance: usize, pid: i32, state: WorkerState) -> WorkerStatus {
    WorkerStatus {
        instance,
        pid,
        state,
        started_at: spawned(),
        reason: None,
        restarts: 0,
        last_reason: None,
        memory_bytes: None,
        cpu_percent: None,
        health: None,
        health_detail: None,
    }
}

/// Two online workers of `name`.
fn online(name: &str, first_pid: i32) -> AppStatus {
    app(
        name,
        AppState::Online,
        vec![
            worker(0, first_pid, WorkerState::Online),
            worker(1, first_pid + 1, WorkerState::Online),
        ],
    )
}
