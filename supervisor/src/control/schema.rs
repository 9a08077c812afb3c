//! The status document: what `corral status --json`, the control socket's
//! `/v1/status` and the admin listener's `/status` return. Its shape is a
//! versioned contract (docs/cli.md): fields are only ever added within a
//! version; a removal or a change of meaning bumps [`VERSION`].

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::app::{AppStatus, Fleet};

/// The schema version of [`StatusDoc`].
pub const VERSION: u32 = 1;

/// Everything an operator or a monitor asks about a running supervisor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusDoc {
    /// The schema version, [`VERSION`].
    pub version: u32,
    /// The supervisor itself.
    pub supervisor: SupervisorInfo,
    /// Every app, in name order.
    pub apps: Vec<AppStatus>,
}

/// The supervisor process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupervisorInfo {
    /// Its pid.
    pub pid: u32,
    /// corral's version.
    pub version: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// The ecosystem file it runs.
    pub ecosystem: PathBuf,
    /// Its log folder.
    pub log_dir: PathBuf,
    /// Running, or shutting down.
    pub state: SupervisorState,
}

/// Whether the supervisor runs or stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SupervisorState {
    /// Serving its apps.
    Running,
    /// Draining its workers on SIGTERM, `corral shutdown` or Ctrl-C.
    Stopping,
}

/// What the control socket and the admin listener read the state from:
/// the fleet the managers publish, and what the daemon says of itself.
#[derive(Clone)]
pub struct Observed {
    fleet: watch::Receiver<Fleet>,
    supervisor: watch::Receiver<SupervisorInfo>,
}

impl Observed {
    /// Reads `fleet` and `supervisor` from now on.
    pub fn new(fleet: watch::Receiver<Fleet>, supervisor: watch::Receiver<SupervisorInfo>) -> Self {
        Self { fleet, supervisor }
    }

    /// The status document as of now.
    pub fn snapshot(&self) -> StatusDoc {
        StatusDoc {
            version: VERSION,
            supervisor: self.supervisor.borrow().clone(),
            apps: self.fleet.borrow().values().cloned().collect(),
        }
    }

    /// The fleet, to wait for a change.
    pub fn fleet(&self) -> watch::Receiver<Fleet> {
        self.fleet.clone()
    }
}
