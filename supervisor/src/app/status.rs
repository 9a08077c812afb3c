//! The published state of an app: what systemd's STATUS line, the logs and
//! (later) `corral status` show.

use std::fmt;

/// The state of an app as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppState {
    /// Some workers are not online yet (or are being restarted).
    Launching,
    /// Every configured worker is online.
    Online,
    /// A slot gave up after `max_restarts` unstable restarts.
    Errored,
    /// Every worker stopped (shutdown, or `autorestart = false` exits).
    Stopped,
}

impl fmt::Display for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Launching => "launching",
            Self::Online => "online",
            Self::Errored => "errored",
            Self::Stopped => "stopped",
        })
    }
}

/// The state of one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    /// Spawned, not ready yet.
    Launching,
    /// Serving.
    Online,
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
}

/// One app as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppStatus {
    /// The app's name.
    pub name: String,
    /// The overall state.
    pub state: AppState,
    /// How many workers the config asks for.
    pub desired: usize,
    /// Every live worker process, replacements and draining ones included.
    pub workers: Vec<WorkerStatus>,
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
