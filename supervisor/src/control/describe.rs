//! `corral describe APP`: one app in depth.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::app::AppStatus;
use crate::cpus::CpuCount;

/// Everything `describe` shows of one app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Description {
    /// Its state and workers, as `status` shows them.
    pub status: AppStatus,
    /// Its resolved config as TOML, secret-looking env values as `***`.
    pub config: String,
    /// How its worker count came to be.
    pub instances: InstancesOrigin,
    /// What happened to its workers lately, oldest first.
    pub history: Vec<HistoryEntry>,
}

/// `instances` as written, and what it resolved to on this machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstancesOrigin {
    /// As the file says it (`"max"`, `-1`, `4`), or `scale N`.
    pub written: String,
    /// The number of workers it means now.
    pub resolved: usize,
    /// The CPUs `"max"` is counted from.
    pub cpus: CpuCount,
}

/// One thing that happened to a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// The slot.
    pub instance: usize,
    /// The worker's pid, if it had a process.
    pub pid: Option<i32>,
    /// What, in a few words (`spawned (memory)`, `exited: exit code 1`).
    pub event: String,
}
