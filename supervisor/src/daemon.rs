//! `corral run`: the supervisor in the foreground.
//!
//! Start-up order matters: [`prepare`] takes the sockets systemd passed and
//! makes every other inherited fd close-on-exec before the runtime opens any
//! fd of its own; then the process becomes a child subreaper, sets up
//! containment (cgroups and the guard), and the reaper and notify listener
//! run before the first worker is spawned. Then the main
//! loop turns signals into actions (SIGTERM/SIGINT shut down, SIGHUP reloads,
//! SIGUSR1 reopens logs) and relays the fleet's state to systemd.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use nix::unistd::Pid;
use sd_notify::NotifyState;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use crate::app::{AppCommand, AppContext, AppHandle, AppState, Fleet};
use crate::config::{self, AppConfig, Ecosystem};
use crate::contain::Containment;
use crate::lock::{LockError, LogDirLock};
use crate::log_setup;
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
}

/// Takes over the fds this process inherited; must run before anything
/// else opens an fd, since sd_listen_fds(3) names fds by number.
pub fn prepare() -> anyhow::Result<Listeners> {
    let listeners = Listeners::from_systemd().context("cannot take the sockets systemd passed")?;
    unix::cloexec_all_except(&listeners.raw_fds())
        .context("cannot mark inherited fds close-on-exec")?;
    Ok(listeners)
}

/// Runs the supervisor until SIGTERM or SIGINT, then drains every worker.
/// `log_lock` is the lock on `eco`'s `log_dir`, taken by the caller before
/// anything else could be started.
pub async fn run(
    eco: Ecosystem,
    source: Source,
    listeners: Listeners,
    log_lock: LogDirLock,
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
    };
    daemon.apply(eco)?;
    if let Some(period) = systemd::watchdog_period() {
        systemd::spawn_watchdog(period);
    }

    let mut reported = Reported::default();
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => daemon.reload(),
            _ = usr1.recv() => {
                tracing::info!("reopening log files");
                telemetry::reopen_file();
                daemon.apps.values().for_each(|app| app.send(AppCommand::ReopenLogs));
            }
            Ok(()) = fleet_rx.changed() => {
                let fleet = fleet_rx.borrow_and_update().clone();
                reported.report(&fleet);
            }
        }
    }
    daemon.shutdown(tracker, [term, int]).await;
    containment.close().await;
    Ok(())
}

/// What systemd was last told.
#[derive(Default)]
struct Reported {
    ready: bool,
    status: String,
}

impl Reported {
    /// Tells systemd (and the log) how the fleet is doing: `READY=1` once
    /// every app is online, and `STATUS=` whenever its line changes (the
    /// fleet also changes with every memory sample, which is no news).
    fn report(&mut self, fleet: &Fleet) {
        let summary: Vec<String> = fleet.values().map(ToString::to_string).collect();
        let summary = summary.join("; ");
        let all_online =
            !fleet.is_empty() && fleet.values().all(|app| app.state == AppState::Online);
        if all_online && !self.ready {
            tracing::info!(status = %summary, "all apps online");
            systemd::notify(&[NotifyState::Ready, NotifyState::Status(&summary)]);
            self.ready = true;
        } else if summary != self.status {
            systemd::notify(&[NotifyState::Status(&summary)]);
        }
        self.status = summary;
    }
}

impl Daemon {
    /// Starts new apps and reloads existing ones from `eco`; stops apps the
    /// file no longer has. Sockets are all bound before anything changes, so
    /// a bad address refuses the whole config.
    fn apply(&mut self, eco: Ecosystem) -> anyhow::Result<()> {
        for key in config::not_enforced(&eco) {
            tracing::warn!(%key, "this key is accepted but not enforced yet");
        }
        let mut plan = Vec::with_capacity(eco.apps.len());
        for app in eco.apps {
            match self.listeners_for(&app) {
                Ok(listeners) => plan.push((Arc::new(app), listeners)),
                Err(err) => {
                    // Close what this refused config bound: nobody would serve it.
                    self.listeners.retain(&self.in_use);
                    return Err(err);
                }
            }
        }
        self.in_use = plan
            .iter()
            .flat_map(|(app, _)| {
                app.listen
                    .iter()
                    .map(|&addr| ListenKey::new(addr, &app.name))
            })
            .collect();
        self.listeners.retain(&self.in_use);
        // Only now that nothing can refuse the config: a changed
        // `listen_backlog` takes effect on the sockets kept open.
        for (app, _) in &plan {
            for &addr in &app.listen {
                let key = ListenKey::new(addr, &app.name);
                if let Err(err) = self.listeners.set_backlog(&key, app.listen_backlog) {
                    tracing::warn!(%addr, %err, "cannot change the listen backlog");
                }
            }
        }
        telemetry::log_to_file(&eco.supervisor, &self.ctx.compressor);
        let log_dir = eco.supervisor.log_dir;
        let names: Vec<String> = plan.iter().map(|(app, _)| app.name.clone()).collect();
        for removed in self
            .apps
            .keys()
            .filter(|n| !names.contains(n))
            .cloned()
            .collect::<Vec<_>>()
        {
            tracing::info!(app = %removed, "app removed from the config; stopping it");
            let handle = self.apps.remove(&removed).expect("listed");
            self.removed.spawn(handle.shutdown());
        }
        let longest = plan
            .iter()
            .map(|(app, _)| app.kill_timeout)
            .max()
            .unwrap_or_default();
        self.kill_timeout = self.kill_timeout.max(longest);
        for (config, listeners) in plan {
            match self.apps.get(&config.name) {
                Some(handle) => handle.send(AppCommand::Reload {
                    config,
                    listeners,
                    log_dir: log_dir.clone(),
                }),
                None => {
                    let handle = AppHandle::start(
                        self.ctx.clone(),
                        config.clone(),
                        listeners,
                        log_dir.clone(),
                    );
                    self.apps.insert(config.name.clone(), handle);
                }
            }
        }
        Ok(())
    }

    fn listeners_for(&mut self, app: &AppConfig) -> anyhow::Result<Vec<Arc<OwnedFd>>> {
        let sockets = app.listen.iter().map(|&addr| {
            let key = ListenKey::new(addr, &app.name);
            Ok(self.listeners.get_or_bind(&key, app.listen_backlog)?)
        });
        sockets.collect()
    }

    /// SIGHUP: a valid file is applied with rolling reloads; an invalid one
    /// is refused and the running config stays. A new `log_dir` is locked
    /// before anything changes and the old one released only once the new
    /// config is in force.
    fn reload(&mut self) {
        tracing::info!(file = %self.source.file.display(), "SIGHUP: reloading the config");
        let result = config::load(&self.source.file, self.source.env.as_deref())
            .map_err(anyhow::Error::from)
            .and_then(|eco| {
                log_setup::prepare(&eco)?;
                let new_lock = self.lock_for(&eco.supervisor.log_dir)?;
                self.apply(eco)?;
                if let Some(lock) = new_lock {
                    tracing::info!(
                        from = %self.log_lock.dir().display(),
                        to = %lock.dir().display(),
                        "log_dir changed; the old one is released"
                    );
                    self.log_lock = lock;
                }
                Ok(())
            });
        if let Err(err) = result {
            tracing::error!("reload refused, the running config stays: {err:#}");
        }
    }

    /// The lock a reloaded config needs: `None` if its `log_dir` is the
    /// folder already held.
    fn lock_for(&self, log_dir: &Path) -> Result<Option<LogDirLock>, LockError> {
        if self.log_lock.covers(log_dir) {
            return Ok(None);
        }
        LogDirLock::acquire(log_dir).map(Some)
    }

    /// SIGTERM/SIGINT: every app drains, apps removed earlier included. A
    /// second signal meanwhile kills every worker at once, for an operator
    /// who cannot wait for `kill_timeout`.
    async fn shutdown(self, tracker: TaskTracker, mut signals: [Signal; 2]) {
        tracing::info!("shutting down: stopping every worker");
        systemd::notify(&[NotifyState::Stopping]);
        let stops: Vec<_> = self
            .apps
            .into_values()
            .map(|app| tokio::spawn(app.shutdown()))
            .collect();
        self.removed.close();
        let removed = self.removed;
        let all_stopped = async move {
            futures_join(stops).await;
            removed.wait().await;
        };
        tokio::pin!(all_stopped);
        // Workers get SIGKILL at kill_timeout; this bound only guards against
        // a process the kernel cannot kill (stuck in uninterruptible I/O).
        let deadline = tokio::time::sleep(self.kill_timeout + Duration::from_secs(5));
        tokio::pin!(deadline);
        let [term, int] = &mut signals;
        loop {
            tokio::select! {
                () = &mut all_stopped => break,
                () = &mut deadline => {
                    tracing::error!("some workers did not exit even after SIGKILL");
                    break;
                }
                _ = term.recv() => kill_every_worker(&self.ctx),
                _ = int.recv() => kill_every_worker(&self.ctx),
            }
        }
        tracker.close();
        if tokio::time::timeout(LOG_FLUSH_BOUND, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "worker output still open after every worker exited; the last lines may be missing"
            );
        }
        if !self.ctx.compressor.flush(LOG_FLUSH_BOUND) {
            tracing::warn!(
                "rotated log files still being compressed; the next start finishes them"
            );
        }
        tracing::info!("supervisor stopped");
        telemetry::close_file(LOG_FLUSH_BOUND);
    }
}

/// SIGKILLs the whole tree of every live worker.
fn kill_every_worker(ctx: &AppContext) {
    tracing::warn!("second stop signal: killing every worker now");
    let fleet = ctx.fleet.borrow();
    for worker in fleet.values().flat_map(|app| &app.workers) {
        ctx.launcher.table.kill_tree(Pid::from_raw(worker.pid));
    }
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in tasks {
        let _ = task.await;
    }
}
