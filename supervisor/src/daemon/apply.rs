//! Applying a config: sockets first, `admin_listen` included (so a bad
//! address refuses the whole file and changes nothing), then apps started,
//! reloaded or stopped.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::Daemon;
use crate::app::{AppCommand, AppHandle, Outcome};
use crate::config::{self, AppConfig, Ecosystem};
use crate::control::{Failure, Problem, Target};
use crate::lock::{LockError, LogDirLock};
use crate::log_setup;
use crate::sockets::ListenKey;
use crate::telemetry;

/// Which apps of a config get a rolling reload.
#[derive(Debug, Clone, Copy)]
pub(super) enum Scope<'a> {
    /// Every app (SIGHUP, `corral reload all`).
    All,
    /// This one; the others keep running as they are.
    App(&'a str),
}

/// Apps whose reload or start an operator waits for, with their outcome.
pub(super) type Pending = Vec<(String, oneshot::Receiver<Outcome>)>;

impl Daemon {
    /// Starts new apps and reloads the apps of `scope` from `eco`; stops
    /// apps the file no longer has. Sockets are all bound before anything
    /// changes, so a bad address refuses the whole config. Returns what to
    /// wait for to know the reloads and starts are done.
    pub(super) fn apply(&mut self, eco: Ecosystem, scope: Scope<'_>) -> anyhow::Result<Pending> {
        let admin = self.admin.prepare(eco.supervisor.admin_listen)?;
        let applied = eco.clone();
        let mut pending = Pending::new();
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
        self.admin.switch(admin);
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
            let wanted = match scope {
                Scope::All => true,
                Scope::App(name) => name == config.name,
            };
            let (done, outcome) = oneshot::channel();
            match self.apps.get(&config.name) {
                Some(handle) if wanted => handle.send(AppCommand::Reload {
                    config: config.clone(),
                    listeners,
                    log_dir: log_dir.clone(),
                    done: Some(done),
                }),
                Some(_) => continue,
                None => {
                    let handle = AppHandle::start(
                        self.ctx.clone(),
                        config.clone(),
                        listeners,
                        log_dir.clone(),
                        Some(done),
                    );
                    self.apps.insert(config.name.clone(), handle);
                }
            }
            pending.push((config.name.clone(), outcome));
        }
        self.current = Some(applied);
        Ok(pending)
    }

    pub(super) fn listeners_for(&mut self, app: &AppConfig) -> anyhow::Result<Vec<Arc<OwnedFd>>> {
        let sockets = app.listen.iter().map(|&addr| {
            let key = ListenKey::new(addr, &app.name);
            Ok(self.listeners.get_or_bind(&key, app.listen_backlog)?)
        });
        sockets.collect()
    }

    /// SIGHUP: a valid file is applied with rolling reloads; an invalid one
    /// is refused and the running config stays.
    pub(super) fn reload(&mut self) {
        tracing::info!(file = %self.source.file.display(), "SIGHUP: reloading the config");
        // A refusal is logged by `reload_target`.
        let _ = self.reload_target(&Target::All);
    }

    /// Re-reads the file and reloads `target`; what to wait for, or why
    /// the file is refused (logged, whoever asked). systemd is told
    /// `RELOADING=1` now and `READY=1` once the rollouts are over, or at
    /// once if refused.
    pub(super) fn reload_target(&mut self, target: &Target) -> Result<Pending, Problem> {
        let reload = self.reported.reloading(self.ctx.fleet.subscribe());
        match self.reload_file(target) {
            Ok(pending) => Ok(reload.until_done(pending)),
            Err(mut problem) => {
                reload.refused();
                if problem.kind == Failure::Config {
                    problem.error = format!(
                        "reload refused, the running config stays: {}",
                        problem.error
                    );
                    tracing::error!("{}", problem.error);
                }
                Err(problem)
            }
        }
    }

    /// [`Daemon::reload_target`] itself. A new `log_dir` is locked before
    /// anything changes and the old one released only once the new config
    /// is in force. A single app's reload takes that app's table from the
    /// file and leaves every other app, and the supervisor's settings, alone.
    fn reload_file(&mut self, target: &Target) -> Result<Pending, Problem> {
        let eco = config::load(&self.source.file, self.source.env.as_deref())
            .map_err(|err| Problem::config(err.to_string()))?;
        let (eco, scope) = match target {
            Target::All => (eco, Scope::All),
            Target::App(name) => {
                let Some(app) = eco.apps.into_iter().find(|a| &a.name == name) else {
                    return Err(Problem::usage(format!(
                        "no app `{name}` in {}",
                        self.source.file.display()
                    )));
                };
                if !self.apps.contains_key(name) {
                    return Err(Problem::usage(format!(
                        "`{name}` is not running: `corral reload all` starts apps new in the file"
                    )));
                }
                let mut merged = self.current.clone().expect("a config is in force");
                for running in &mut merged.apps {
                    if running.name == *name {
                        *running = app.clone();
                    }
                }
                (merged, Scope::App(name))
            }
        };
        let refused = |err: &dyn std::fmt::Display| Problem::config(err.to_string());
        log_setup::prepare(&eco).map_err(|e| refused(&e))?;
        let new_lock = self
            .lock_for(&eco.supervisor.log_dir)
            .map_err(|e| refused(&e))?;
        let pending = self
            .apply(eco, scope)
            .map_err(|e| refused(&format!("{e:#}")))?;
        if let Some(lock) = new_lock {
            tracing::info!(
                from = %self.log_lock.dir().display(),
                to = %lock.dir().display(),
                "log_dir changed; the old one is released"
            );
            self.log_lock = lock;
        }
        Ok(pending)
    }

    /// The lock a reloaded config needs: `None` if its `log_dir` is the
    /// folder already held.
    pub(super) fn lock_for(&self, log_dir: &Path) -> Result<Option<LogDirLock>, LockError> {
        if self.log_lock.covers(log_dir) {
            return Ok(None);
        }
        LogDirLock::acquire(log_dir).map(Some)
    }
}
