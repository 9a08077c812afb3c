//! The supervisor's own log: `tracing` to stderr (journald under systemd),
//! and to a rotating file in `log_dir` when `[supervisor.logs]` asks.
//!
//! `CORRAL_LOG` filters (default `info`), `CORRAL_LOG_FORMAT=json` switches
//! stderr to one JSON object per line with the event's fields at the top
//! level, for log shippers and for tests that wait on events. The file's
//! format is its own (`[supervisor.logs] format`), and since the file is
//! only known once the config is read, its layer is installed then
//! ([`log_to_file`]), and changed by a reload.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

use crate::config::{LogFormat, Rotation, SupervisorConfig};
use crate::logs::{Compressor, OwnLogFile};

/// The file's layer, when there is a file.
type FileLayer = Option<Box<dyn Layer<Registry> + Send + Sync>>;

/// Where the file layer can be swapped, once [`init`] ran, and what it
/// writes now (to tell whether a reload changes it).
static FILE: OnceLock<(reload::Handle<FileLayer, Registry>, Mutex<Current>)> = OnceLock::new();

/// What the file layer writes now, and the thread writing it.
#[derive(Default)]
struct Current {
    target: Option<Target>,
    sink: Option<OwnLogFile>,
    thread: Option<JoinHandle<()>>,
}

/// What the file layer writes: where, rotated how, in which format.
type Target = (PathBuf, Rotation, LogFormat);

/// Installs the global subscriber.
pub fn init() {
    let filter = EnvFilter::try_from_env("CORRAL_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let (file, handle) = reload::Layer::new(FileLayer::None);
    let _ = FILE.set((handle, Mutex::new(Current::default())));
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let stderr = if std::env::var("CORRAL_LOG_FORMAT").is_ok_and(|f| f == "json") {
        stderr
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .boxed()
    } else {
        stderr
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .boxed()
    };
    tracing_subscriber::registry()
        .with(file)
        .with(filter)
        .with(stderr)
        .init();
}

/// Writes the log to the file `supervisor` configures from now on too, or
/// stops writing it there when none is configured.
pub fn log_to_file(supervisor: &SupervisorConfig, compressor: &Compressor) {
    let Some((handle, current)) = FILE.get() else {
        return;
    };
    let wanted: Option<Target> = supervisor
        .log_file
        .as_ref()
        .map(|own| (supervisor.log_dir.join(&own.file), own.rotation, own.format));
    let mut current = current.lock().expect("log file state poisoned");
    if current.target == wanted {
        return;
    }
    let (layer, sink, thread) = match &wanted {
        None => (None, None, None),
        Some((path, rotation, format)) => {
            match OwnLogFile::start(path.clone(), *rotation, compressor.clone()) {
                Ok((sink, thread)) => (
                    Some(file_layer(sink.clone(), *format)),
                    Some(sink),
                    Some(thread),
                ),
                Err(err) => {
                    tracing::error!(path = %path.display(), %err, "cannot start writing the supervisor's log file");
                    (None, None, None)
                }
            }
        }
    };
    // The previous layer, and with it the previous file's sender, is
    // dropped here: that file's thread writes what it has and ends.
    match handle.reload(layer) {
        Ok(()) => {
            current.target = wanted;
            current.sink = sink;
            current.thread = thread;
        }
        Err(err) => tracing::error!(%err, "cannot change the supervisor's log file"),
    }
}

/// Reopens the log file by path (SIGUSR1), for an external logrotate.
pub fn reopen_file() {
    if let Some((_, current)) = FILE.get()
        && let Some(sink) = &current.lock().expect("log file state poisoned").sink
    {
        sink.reopen();
    }
}

/// Stops writing the log file, waiting (at most `bound`) for its last
/// lines to be written: the end of the supervisor.
pub fn close_file(bound: Duration) {
    let Some((handle, current)) = FILE.get() else {
        return;
    };
    let mut current = current.lock().expect("log file state poisoned");
    let _ = handle.reload(None);
    current.target = None;
    current.sink = None;
    if let Some(thread) = current.thread.take() {
        let deadline = Instant::now() + bound;
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn file_layer(sink: OwnLogFile, format: LogFormat) -> Box<dyn Layer<Registry> + Send + Sync> {
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(sink)
        .with_ansi(false);
    match format {
        LogFormat::Text => layer.boxed(),
        LogFormat::Json => layer
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .boxed(),
    }
}
