//! `ecosystem.toml`: what to run, how many, and how to treat it.
//!
//! [`load`] turns the file into plain, fully defaulted values, so the rest
//! of the supervisor never sees TOML or an `Option` that only means "use
//! the default". Every refusal is a [`ConfigError`] that names file, line
//! and column. [`render`] prints the result back for `corral check`.

mod app;
mod document;
mod env;
mod error;
mod fields;
mod render;
#[cfg(test)]
mod tests;
mod units;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;

pub use error::{ConfigError, Location, Problem, Suggestion};
pub use render::{render, render_app};
pub use units::UnitError;

/// A parsed ecosystem file: the supervisor's settings and its apps.
#[derive(Debug, Clone, PartialEq)]
pub struct Ecosystem {
    /// The file, made absolute, so a reload re-reads the same file whatever
    /// the current directory has become.
    pub path: PathBuf,
    /// The file's folder: relative paths in the file mean relative to it,
    /// not to wherever `corral` was started.
    pub base_dir: PathBuf,
    /// Settings of the supervisor itself.
    pub supervisor: SupervisorConfig,
    /// The apps, in file order (status and reloads follow this order).
    pub apps: Vec<AppConfig>,
}

/// Where the supervisor keeps its own files and whom it answers.
#[derive(Debug, Clone, PartialEq)]
pub struct SupervisorConfig {
    /// Folder of the apps' log files (absolute).
    pub log_dir: PathBuf,
    /// Unix socket the CLI talks to (absolute).
    pub control_socket: PathBuf,
    /// Read-only monitoring endpoint (`/health`, `/metrics`, `/status`);
    /// off unless asked for.
    pub admin_listen: Option<SocketAddr>,
    /// How long a stopping supervisor fails `/health` before it signals the
    /// workers, so a load balancer takes the host out of rotation first.
    pub shutdown_delay: Duration,
    /// The supervisor's own log file, besides stderr; `None` for stderr only.
    pub log_file: Option<OwnLog>,
}

/// Where the supervisor's own log goes besides stderr, and how it rotates.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnLog {
    /// The file, relative to `log_dir` unless absolute.
    pub file: String,
    /// Text lines, or one JSON object per line.
    pub format: LogFormat,
    /// When the file is rotated and what is kept.
    pub rotation: Rotation,
}

/// One app: a command run as one or more identical workers.
#[derive(Debug, Clone, PartialEq)]
pub struct AppConfig {
    /// Unique name used by the CLI, log file names and `CORRAL_APP`.
    pub name: String,
    /// Program to run; looked up in `PATH` unless it contains a `/`.
    pub command: String,
    /// Arguments passed to `command`.
    pub args: Vec<String>,
    /// Working directory of the workers (absolute).
    pub cwd: PathBuf,
    /// How many workers to run; resolved against the CPUs at start.
    pub instances: Instances,
    /// Whether each worker slot is kept on a CPU of its own: one busy
    /// single-threaded worker per CPU then never waits behind another
    /// worker the scheduler stacked on its CPU (see `cpus::for_slot`).
    pub pin_cpus: bool,
    /// Sockets bound once by the supervisor and shared by every worker.
    pub listen: Vec<SocketAddr>,
    /// Accept queue length of each `listen` socket.
    pub listen_backlog: u32,
    /// User to drop to in the worker; `None` keeps the supervisor's.
    pub user: Option<String>,
    /// Group to drop to in the worker; `None` keeps the user's.
    pub group: Option<String>,
    /// Signal that asks a worker to drain and exit.
    pub kill_signal: Signal,
    /// How long a worker may drain before its process group gets SIGKILL.
    pub kill_timeout: Duration,
    /// Whether a worker is online only after it sends `READY=1`.
    pub wait_ready: bool,
    /// How long a new worker may take to become ready.
    pub listen_timeout: Duration,
    /// Whether a worker that exits is started again.
    pub autorestart: bool,
    /// A worker that dies sooner than this counts as an unstable restart.
    pub min_uptime: Duration,
    /// Unstable restarts in a row before the app is `errored`.
    pub max_restarts: u32,
    /// Fixed pause before each restart.
    pub restart_delay: Duration,
    /// Starting delay that doubles per unstable restart; `None` (written
    /// `"0ms"`) for the fixed delay alone.
    pub exp_backoff_restart_delay: Option<Duration>,
    /// PSS limit in bytes over which a worker is replaced; `None` for no limit.
    pub max_memory_restart: Option<u64>,
    /// How often memory (and CPU) is sampled.
    pub memory_check_interval: Duration,
    /// Samples in a row over `max_memory_restart` that get a worker replaced.
    pub memory_check_samples: u32,
    /// HTTP probe of each worker's health socket; `None` for no probe.
    pub health_check: Option<HealthCheck>,
    /// Heartbeat period a worker must keep (`WATCHDOG_USEC`); `None` for none.
    pub watchdog: Option<Duration>,
    /// chrono strftime format of the timestamp prefixed to each log line.
    pub log_date_format: String,
    /// Where and how the workers' output is kept.
    pub logs: LogsConfig,
    /// Environment of the workers: `[apps.env]` overlaid by the `--env` table.
    pub env: BTreeMap<String, String>,
}

/// A periodic HTTP probe that replaces workers which stop answering.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheck {
    /// Request path; starts with `/`.
    pub path: String,
    /// Time between probes of one worker.
    pub interval: Duration,
    /// How long one probe may take before it counts as failed.
    pub timeout: Duration,
    /// Time after start during which failures are not counted.
    pub grace_period: Duration,
    /// Failed probes in a row that get a worker replaced; at least 1.
    pub failures: u32,
}

/// The app's two log files, their format and their rotation.
#[derive(Debug, Clone, PartialEq)]
pub struct LogsConfig {
    /// File of the workers' stdout, relative to `log_dir` unless absolute.
    pub out: String,
    /// File of the workers' stderr, relative to `log_dir` unless absolute.
    pub error: String,
    /// Stamped text lines, or one JSON object per line.
    pub format: LogFormat,
    /// When the files are rotated and what is kept.
    pub rotation: Rotation,
}

/// When a log file is rotated and which rotated files are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before a file passes this many bytes; `None` for no size limit.
    pub max_size: Option<u64>,
    /// Rotate on the clock as well; `None` for size only.
    pub interval: Option<RotateInterval>,
    /// Rotated files to keep.
    pub retain: u32,
    /// Whether rotated files are gzipped.
    pub compress: bool,
}

/// How each line of a log file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `<timestamp> [<instance>] <line>`, for people.
    Text,
    /// One JSON object per line (`timestamp`, `app`, `instance`, `pid`,
    /// `stream`, `message`), for log shippers.
    Json,
}

/// Calendar rotation, for operators who archive logs per hour or day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotateInterval {
    /// At the start of every hour.
    Hourly,
    /// At midnight, local time.
    Daily,
}

/// Worker count as written, kept unresolved so that the same file adapts to
/// the machine (and cgroup) it runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instances {
    /// `"max"`: one worker per usable CPU.
    Max,
    /// `-k`: all usable CPUs but `k`, leaving room for other work.
    Relative(u32),
    /// A fixed number of workers.
    Count(u32),
}

impl Instances {
    /// The number of workers for `cpus` usable CPUs; never 0, since an app
    /// with no workers would look healthy while serving nothing.
    pub fn resolve(&self, cpus: usize) -> usize {
        let n = match *self {
            Self::Max => cpus,
            Self::Relative(k) => cpus.saturating_sub(k as usize),
            Self::Count(n) => n as usize,
        };
        n.max(1)
    }
}

/// Reads and checks an ecosystem file. `env_name` selects the
/// `[apps.env_<NAME>]` tables (`--env NAME`) laid over each app's `[apps.env]`.
///
/// Errors name `path` as given, not made absolute, so the operator
/// recognises it.
pub fn load(path: &Path, env_name: Option<&str>) -> Result<Ecosystem, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    let absolute = std::path::absolute(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    let absolute: PathBuf = absolute.components().collect();
    let base_dir = absolute.parent().map(Path::to_owned).unwrap_or_default();
    let src = error::Source { path, text: &text };
    let (supervisor, apps) = document::parse(&src, &base_dir, env_name)?;
    Ok(Ecosystem {
        path: absolute,
        base_dir,
        supervisor,
        apps,
    })
}

/// `path` made absolute against `base_dir` and tidied without touching the
/// filesystem: `.` components, repeated and trailing slashes go, so
/// `corral check` shows `/srv/api`, not `/srv/api/.`. `..` is kept and
/// symlinks are not followed, because dropping `a/..` is only right when
/// `a` is not a symlink, and that is the filesystem's to say.
fn resolve_path(base_dir: &Path, path: &str) -> PathBuf {
    base_dir.join(path).components().collect()
}
