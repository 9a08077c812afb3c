//! The verbs that run a supervisor: `run` in the foreground, `start` in
//! the background (or of an app, through the socket), and `check`.

use std::path::Path;
use std::process::{Command as Process, ExitCode, Stdio};
use std::time::{Duration, Instant};

use super::{FileArgs, StartArgs, config_error, failed};
use crate::config::{self, Ecosystem};
use crate::control::admin::AdminListener;
use crate::control::client::{self, ClientError, Located};
use crate::control::{Request, StatusDoc, Target};
use crate::daemon::{self, Source};
use crate::lock::LogDirLock;
use crate::log_setup;

/// How long `start` waits for every app to be online.
const START_BOUND: Duration = Duration::from_secs(120);

/// `corral run`: the supervisor in the foreground.
pub(super) fn run(args: FileArgs) -> ExitCode {
    let eco = match config::load(&args.file, args.env.as_deref()) {
        Ok(eco) => eco,
        Err(err) => return config_error(&err),
    };
    let listeners = match daemon::prepare() {
        Ok(listeners) => listeners,
        Err(err) => return failed(&err),
    };
    if let Err(err) = log_setup::prepare(&eco) {
        return config_error(&err);
    }
    // After `daemon::prepare`, which must see the inherited fds before any
    // is opened; before any socket is bound or anything started.
    let log_lock = match LogDirLock::acquire(&eco.supervisor.log_dir) {
        Ok(lock) => lock,
        Err(err) => return config_error(&err),
    };
    let control = match crate::control::ControlSocket::bind(&eco.supervisor.control_socket) {
        Ok(control) => control,
        Err(err) => return config_error(&err),
    };
    let admin = match eco.supervisor.admin_listen.map(AdminListener::bind) {
        None => None,
        Some(Ok(admin)) => Some(admin),
        Some(Err(err)) => return config_error(&err),
    };
    // Once nothing is left to refuse, and before any worker inherits it.
    crate::unix::raise_fd_limit();
    // One thread: the thread that forks a worker is its parent as far as
    // PR_SET_PDEATHSIG is concerned, so it must live as long as the process.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return failed(&anyhow::Error::from(err).context("cannot start the runtime")),
    };
    let source = Source {
        file: args.file,
        env: args.env,
    };
    match runtime.block_on(daemon::run(
        eco, source, listeners, log_lock, control, admin,
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => failed(&err),
    }
}

/// `corral check`: the resolved config, or why the file cannot run.
pub(super) fn check(args: &FileArgs) -> ExitCode {
    match config::load(&args.file, args.env.as_deref()) {
        Ok(eco) => {
            if let Err(err) = log_setup::check(&eco) {
                return config_error(&err);
            }
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            print!("{}", config::render(&eco, cpus));
            ExitCode::SUCCESS
        }
        Err(err) => config_error(&err),
    }
}

/// `corral start [FILE|APP|all]`.
pub(super) fn start(args: StartArgs) -> ExitCode {
    let target = match args.what.as_deref() {
        Some("all") => Some(Target::All),
        Some(word) if !looks_like_a_file(word) => Some(Target::App(word.to_owned())),
        _ => None,
    };
    if let Some(target) = target {
        return super::remote::start(target, args.socket.socket.as_deref());
    }
    let file = args.what.unwrap_or_else(|| "ecosystem.toml".into());
    let eco = match config::load(Path::new(&file), args.env.as_deref()) {
        Ok(eco) => eco,
        Err(err) => return config_error(&err),
    };
    // The folders `run` would make: the background supervisor's own
    // output goes in log_dir before it runs.
    if let Err(err) = log_setup::prepare(&eco) {
        return config_error(&err);
    }
    let at = Located {
        path: eco.supervisor.control_socket.clone(),
        by: "the ecosystem file",
    };
    let runtime = super::remote::runtime();
    if runtime
        .block_on(client::call::<StatusDoc>(&at, &Request::Status))
        .is_ok()
    {
        // Already running: start whatever of it is stopped.
        return super::remote::start(Target::All, Some(&at.path));
    }
    background(&eco, args.env.as_deref(), &at, &runtime)
}

/// A word names a file if it is one, or looks like one.
fn looks_like_a_file(word: &str) -> bool {
    Path::new(word).is_file() || word.ends_with(".toml") || word.contains('/')
}

/// Starts `corral run` detached (its own session, stdin closed, its
/// output in `log_dir`) and waits until every app is online.
fn background(
    eco: &Ecosystem,
    env: Option<&str>,
    at: &Located,
    runtime: &tokio::runtime::Runtime,
) -> ExitCode {
    let output = startup_log(eco);
    let log = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&output)
    {
        Ok(log) => log,
        Err(err) => return config_error(&format!("cannot open {}: {err}", output.display())),
    };
    let written_before = log.metadata().map_or(0, |m| m.len());
    let mut command = Process::new("/proc/self/exe");
    command.arg("run").arg(&eco.path);
    if let Some(env) = env {
        command.args(["--env", env]);
    }
    let stderr = match log.try_clone() {
        Ok(stderr) => stderr,
        Err(err) => return config_error(&format!("cannot open {}: {err}", output.display())),
    };
    command
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(stderr)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID");
    // SAFETY: setsid is async-signal-safe and touches no memory; the child
    // gets a session of its own, so the terminal's signals never reach it.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            nix::unistd::setsid()
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => return failed(&anyhow::anyhow!("cannot start corral run: {err}")),
    };
    let deadline = Instant::now() + START_BOUND;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let said = said_since(&output, written_before);
            eprintln!("corral: the supervisor exited ({status}) while starting:\n{said}");
            return ExitCode::from(status.code().map_or(1, |c| c.clamp(1, 255) as u8));
        }
        match runtime.block_on(client::call::<StatusDoc>(at, &Request::Status)) {
            Ok(doc) => {
                if let Some(app) = doc
                    .apps
                    .iter()
                    .find(|a| a.state == crate::app::AppState::Errored)
                {
                    let why = app.note.as_deref().unwrap_or("see corral logs");
                    eprintln!(
                        "corral: started (pid {}), but {} is errored: {why}",
                        child.id(),
                        app.name
                    );
                    return ExitCode::from(1);
                }
                let online = !doc.apps.is_empty()
                    && doc
                        .apps
                        .iter()
                        .all(|a| a.state == crate::app::AppState::Online);
                if online {
                    println!(
                        "corral started (pid {}), {} app(s) online; its log: {}",
                        child.id(),
                        doc.apps.len(),
                        output.display()
                    );
                    return ExitCode::SUCCESS;
                }
            }
            Err(ClientError::NotRunning { .. }) => {}
            Err(err) => eprintln!("corral: {err}"),
        }
        if Instant::now() > deadline {
            eprintln!(
                "corral: started (pid {}), but not every app is online after {}s: see `corral status`",
                child.id(),
                START_BOUND.as_secs()
            );
            return ExitCode::from(1);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Where a background supervisor's stdout and stderr go: `corral.log` in
/// `log_dir`, unless `[supervisor.logs]` writes that log already, in which
/// case only what comes before it (start-up failures) goes to
/// `corral-stderr.log`.
fn startup_log(eco: &Ecosystem) -> std::path::PathBuf {
    let name = if eco.supervisor.log_file.is_some() {
        "corral-stderr.log"
    } else {
        "corral.log"
    };
    eco.supervisor.log_dir.join(name)
}

/// What a file got past `offset`, at most the last 20 lines.
fn said_since(path: &Path, offset: u64) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text[(offset as usize).min(text.len())..]).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
