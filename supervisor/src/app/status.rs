//! The published state of an app: what systemd's STATUS line, the logs and
//! (later) `corral status` show.

use std::fmt;

pub use crate::lifecycle::AppState;
use crate::lifecycle::Reason;

/// The state of one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// One worker as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerStatus {
    /// `CORRAL_INSTANCE`.
    pub instance: usize,
    /// Its process id.
    pub pid: i32,
    /// Its lifecycle phase.
    pub state: WorkerState,
    /// Why it was started; `None` for its slot's first start.
    pub reason: Option<Reason>,
    /// PSS of its process tree as last sampled, in bytes.
    pub pss: Option<u64>,
}

/// One app as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppStatus {
    /// The app's name.
    pub name: String,
    /// Which manager published it: the manager of an app removed by a
    /// reload never overwrites the entry of the app added back.
    pub manager: u64,
    /// The overall state.
    pub state: AppState,
    /// How many workers the config asks for.
    pub desired: usize,
    /// Every live worker process, replacements and draining ones included.
    pub workers: Vec<WorkerStatus>,
    /// Log lines dropped so far, of stdout and of stderr.
    pub dropped_lines: (u64, u64),
    /// Why the last reload stopped, or why the app is errored.
    pub note: Option<String>,
}

impl AppStatus {
    /// Workers currently online.
    pub fn online(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| w.state == WorkerState::Online)
            .count()
    }
}

impl fmt::Display for AppStatus {
    /// One line, e.g. `api online 4/4`, as systemd's STATUS shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}/{}",
            self.name,
            self.state,
            self.online(),
            self.desired
        )?;
        if let Some(note) = &self.note {
            write!(f, " ({note})")?;
        }
        Ok(())
    }
}
