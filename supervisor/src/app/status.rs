//! The published state of an app: what systemd's STATUS line, the logs,
//! `corral status`, `/status` and `/metrics` show. It serializes as the
//! `apps` of the status document (see `control::schema`), so its field
//! names are a documented, versioned schema: rename nothing lightly.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::lifecycle::AppState;
use crate::lifecycle::Reason;

/// The state of one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerState {
    /// Spawned, not ready yet.
    Launching,
    /// Serving.
    Online,
    /// Failed its health checks or heartbeats; being replaced.
    Unresponsive,
    /// Told to stop; draining.
    Stopping,
}

impl fmt::Display for WorkerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Launching => "launching",
            Self::Online => "online",
            Self::Unresponsive => "unresponsive",
            Self::Stopping => "stopping",
        })
    }
}

/// What the health checks of a worker last said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// No probe has answered yet.
    Pending,
    /// The last probe passed.
    Pass,
    /// The last probe failed (`health_detail` says why).
    Fail,
}

/// One worker as operators see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// `CORRAL_INSTANCE`.
    pub instance: usize,
    /// Its process id.
    pub pid: i32,
    /// Its lifecycle phase.
    pub state: WorkerState,
    /// When it was spawned.
    pub started_at: DateTime<Utc>,
    /// Why it was started; `None` for its slot's first start.
    pub reason: Option<Reason>,
    /// Workers started in its slot after the first.
    pub restarts: u32,
    /// Why the last of those was started.
    pub last_reason: Option<Reason>,
    /// PSS of its process tree as last sampled, in bytes.
    pub memory_bytes: Option<u64>,
    /// CPU use between the last two samples, in percent of one CPU.
    pub cpu_percent: Option<f64>,
    /// The last health check; `None` when the app has none.
    pub health: Option<Health>,
    /// Why the last health check failed.
    pub health_detail: Option<String>,
}

/// Log lines an app's writer dropped, per stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedLines {
    /// Of the workers' stdout.
    pub out: u64,
    /// Of the workers' stderr.
    pub err: u64,
}

/// One app as operators see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppStatus {
    /// The app's name.
    pub name: String,
    /// Which manager published it: the manager of an app removed by a
    /// reload never overwrites the entry of the app added back.
    #[serde(skip)]
    pub manager: u64,
    /// The overall state.
    pub state: AppState,
    /// How many workers the config asks for.
    pub desired: usize,
    /// Workers online now.
    pub online: usize,
    /// Workers started in place of others since the app started, by reason.
    pub restarts: BTreeMap<Reason, u32>,
    /// Log lines dropped so far.
    pub dropped_lines: DroppedLines,
    /// Why the last reload stopped, or why the app is errored.
    pub note: Option<String>,
    /// Every live worker process, replacements and draining ones included.
    pub workers: Vec<WorkerStatus>,
}

impl fmt::Display for AppStatus {
    /// One line, e.g. `api online 4/4`, as systemd's STATUS shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}/{}",
            self.name, self.state, self.online, self.desired
        )?;
        if let Some(note) = &self.note {
            write!(f, " ({note})")?;
        }
        Ok(())
    }
}
