//! `corral run`: the supervisor in the foreground.
//!
//! Start-up order matters: [`prepare`] takes the sockets systemd passed and
//! makes every other inherited fd close-on-exec before the runtime opens any
//! fd of its own; then the process becomes a child subreaper, sets up
//! containment (cgroups and the guard), and the reaper, the notify listener,
//! the control socket and the admin listener run before the first worker is
//! spawned. Then the main loop turns signals and control requests into
//! actions (SIGTERM, SIGINT and `shutdown` stop, after `shutdown_delay`;
//! SIGHUP and `reload` reload, SIGUSR1 and `reopen-logs` reopen logs;
//! [`calls`]) and relays the fleet's state to systemd.

mod apply;
mod calls;
mod reported;
mod shutdown;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tokio_util::task::TaskTracker;

use crate::app::{AppContext, AppHandle, Fleet};
use crate::config::Ecosystem;
use crate::contain::Containment;
use crate::control::admin::{AdminListener, AdminServer};
use crate::control::{ControlSocket, Handler, Observed, SupervisorInfo, SupervisorState};
use crate::lock::LogDirLock;
use crate::logs::Compressor;
use crate::notify::NotifyListener;
use crate::reaper::{self, ChildTable};
use crate::sockets::{ListenKey, Listeners};
use crate::worker::{self, Launcher};
use crate::{systemd, telemetry, unix};

/// How long shutdown waits for the last log lines after every worker is gone.
const LOG_FLUSH_BOUND: Duration = Duration::from_secs(2);

/// Where the config came from, so SIGHUP can read it again.
#[derive(Debug, Clone)]
pub struct Source {
    /// The ecosystem file.
    pub file: PathBuf,
    /// The `--env` overlay.
    pub env: Option<String>,
}

struct Daemon {
    source: Source,
    ctx: AppContext,
    listeners: Listeners,
    /// The listen addresses of the config in force.
    in_use: Vec<ListenKey>,
    apps: BTreeMap<String, AppHandle>,
    /// Apps removed by a reload, still draining; shutdown waits for them.
    removed: TaskTracker,
    /// The longest `kill_timeout` of any app that may still be running.
    kill_timeout: Duration,
    /// The lock on the `log_dir` in force, held for the supervisor's life.
    log_lock: LogDirLock,
    /// The `admin_listen` in force; it serves until the process exits.
    admin: AdminServer,
    /// The config in force, once applied: a single app's reload changes
    /// only its table.
    current: Option<Ecosystem>,
    /// What systemd was told, and the reloads it waits for.
    reported: reported::Reported,
}

/// Takes over the fds this process inherited; must run before anything
/// else opens an fd, since sd_listen_fds(3) names fds by number.
pub fn prepare() -> anyhow::Result<Listeners> {
    let listeners = Listeners::from_systemd().context("cannot take the sockets systemd passed")?;
    unix::cloexec_all_except(&listeners.raw_fds())
        .context("cannot mark inherited fds close-on-exec")?;
    Ok(listeners)
}

/// Runs the supervisor until SIGTERM, SIGINT or `corral shutdown`, then
/// drains every worker. `log_lock` (on `eco`'s `log_dir`), `control` (its
/// control socket) and `admin` (its `admin_listen`, if set) are taken by
/// the caller before anything else could be started, so a second
/// supervisor or a taken port is refused before a worker starts.
pub async fn run(
    eco: Ecosystem,
    source: Source,
    listeners: Listeners,
    log_lock: LogDirLock,
    control: ControlSocket,
    admin: Option<AdminListener>,
) -> anyhow::Result<()> {
    let compressor = Compressor::start().context("cannot start the log compressor")?;
    telemetry::log_to_file(&eco.supervisor, &compressor);
    unix::become_subreaper().context("cannot become a child subreaper")?;
    let containment = Containment::start()?;
    tracing::info!(
        cgroups = %containment.cgroup_base().map_or("off".into(), |b| b.display().to_string()),
        guard = containment.guard_pid(),
        how = %containment.describe(),
        "worker containment"
    );
    let table = ChildTable::new(containment.clone());
    reaper::start(table.clone()).context("cannot watch SIGCHLD")?;
    let notify = NotifyListener::bind().context("cannot bind the notify socket")?;
    let notify_address = notify.address.clone();
    tokio::spawn(notify.serve(table.clone()));

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;

    let tracker = TaskTracker::new();
    let (fleet, mut fleet_rx) = watch::channel(Fleet::new());
    let launcher = Launcher {
        table,
        notify_address,
        base_env: worker::base_env(),
        tracker: tracker.clone(),
    };
    let (supervisor, supervisor_rx) = watch::channel(SupervisorInfo {
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").into(),
        started_at: chrono::Utc::now(),
        ecosystem: eco.path.clone(),
        log_dir: eco.supervisor.log_dir.clone(),
        state: SupervisorState::Running,
    });
    let (calls_tx, mut calls) = mpsc::unbounded_channel();
    let observed = Observed::new(fleet_rx.clone(), supervisor_rx);
    let admin = AdminServer::start(observed.clone(), admin);
    tokio::spawn(control.serve(Arc::new(Handler::new(observed, calls_tx))));
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let ctx = AppContext {
        launcher,
        cpus,
        fleet,
        compressor,
    };
    let mut daemon = Daemon {
        source,
        ctx,
        listeners,
        in_use: Vec::new(),
        apps: BTreeMap::new(),
        removed: TaskTracker::new(),
        kill_timeout: Duration::ZERO,
        log_lock,
        admin,
        current: None,
        reported: reported::Reported::default(),
    };
    daemon.apply(eco, apply::Scope::All)?;
    if let Some(period) = systemd::watchdog_period() {
        systemd::spawn_watchdog(period);
    }

    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => daemon.reload(),
            _ = usr1.recv() => daemon.reopen_logs(),
            Some(call) = calls.recv() => {
                if daemon.call(call) {
                    break;
                }
            }
            Ok(()) = fleet_rx.changed() => {
                let fleet = fleet_rx.borrow_and_update().clone();
                daemon.reported.report(&fleet);
            }
        }
    }
    supervisor.send_modify(|s| s.state = SupervisorState::Stopping);
    // From now on a request that would change something is refused at once.
    drop(calls);
    daemon.shutdown(tracker, [term, int]).await;
    containment.close().await;
    Ok(())
}
