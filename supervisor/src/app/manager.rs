//! The manager task of one app: slots, restarts and rolling reloads.
//!
//! Each slot (one per instance) has at most one `active` worker and, during
//! a reload, one `incoming` worker. The incoming worker replaces the active
//! one only once it is online; the old one is then drained, and the rollout
//! moves to the next slot only after the old worker is gone. So capacity
//! never drops below the configured count, and a new worker that fails stops
//! the rollout while the old workers keep serving.

mod publish;
mod rollout;

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use super::AppCommand;
use super::AppContext;
use crate::config::AppConfig;
use crate::logs::AppLogs;
use crate::policy::{Decision, RestartPolicy, RestartTracker};
use crate::worker::{SpawnRequest, WorkerEvent, WorkerHandle, WorkerId};

#[derive(Default)]
struct Slot {
    active: Option<WorkerId>,
    incoming: Option<WorkerId>,
    tracker: RestartTracker,
    restart_at: Option<Instant>,
    errored: bool,
}

struct Worker {
    handle: WorkerHandle,
    slot: usize,
    online: bool,
    stopping: bool,
    /// The [`Applied::generation`] it was started with.
    generation: u64,
}

/// The config in force and what was built from it. A reload swaps it as
/// one piece; a reload that fails puts the previous one back, so workers
/// restarted afterwards run the config that works.
struct Applied {
    config: Arc<AppConfig>,
    policy: RestartPolicy,
    listeners: Vec<OwnedFd>,
    logs: AppLogs,
    /// Bumped by every reload: a worker started under an older one is
    /// replaced by the rollout, a worker started under this one is not.
    generation: u64,
}

pub(super) struct Manager {
    ctx: AppContext,
    applied: Applied,
    /// The last config known to work while a rollout is in progress.
    previous: Option<Applied>,
    /// Reloads so far: the source of [`Applied::generation`], never reused
    /// even when a failed reload puts an older config back.
    reloads: u64,
    slots: Vec<Slot>,
    workers: HashMap<WorkerId, Worker>,
    rollout: Option<rollout::Rollout>,
    shutting_down: bool,
    next_id: WorkerId,
    note: Option<String>,
    events_tx: mpsc::UnboundedSender<(WorkerId, WorkerEvent)>,
    events: mpsc::UnboundedReceiver<(WorkerId, WorkerEvent)>,
}

impl Manager {
    pub(super) fn new(
        ctx: AppContext,
        config: Arc<AppConfig>,
        listeners: Vec<OwnedFd>,
        log_dir: PathBuf,
    ) -> Self {
        let (events_tx, events) = mpsc::unbounded_channel();
        let logs = AppLogs::open(
            &log_dir,
            &config.logs.out,
            &config.logs.error,
            &config.log_date_format,
        );
        let now = Instant::now();
        let slots = (0..config.instances.resolve(ctx.cpus))
            .map(|_| Slot {
                restart_at: Some(now),
                ..Slot::default()
            })
            .collect();
        let applied = Applied {
            policy: RestartPolicy::from(&*config),
            config,
            listeners,
            logs,
            generation: 0,
        };
        Self {
            ctx,
            applied,
            previous: None,
            reloads: 0,
            slots,
            workers: HashMap::new(),
            rollout: None,
            shutting_down: false,
            next_id: 0,
            note: None,
            events_tx,
            events,
        }
    }

    pub(super) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<AppCommand>) {
        loop {
            self.start_due_slots();
            self.publish();
            if self.shutting_down && self.workers.is_empty() {
                tracing::info!(app = %self.applied.config.name, "app stopped");
                self.ctx.fleet.send_modify(|fleet| {
                    fleet.remove(&self.applied.config.name);
                });
                return;
            }
            let next_restart = self.slots.iter().filter_map(|s| s.restart_at).min();
            tokio::select! {
                Some((id, event)) = self.events.recv() => self.on_event(id, event),
                command = commands.recv(), if !self.shutting_down => match command {
                    Some(AppCommand::Reload { config, listeners, log_dir }) => self.reload(config, listeners, log_dir),
                    Some(AppCommand::ReopenLogs) => {
                        self.applied.logs.reopen();
                        tracing::info!(app = %self.applied.config.name, "log files reopened");
                    }
                    Some(AppCommand::Shutdown) | None => self.shutdown(),
                },
                _ = sleep_until(next_restart.unwrap_or_else(Instant::now)), if next_restart.is_some() => {}
            }
        }
    }

    fn on_event(&mut self, id: WorkerId, event: WorkerEvent) {
        match event {
            WorkerEvent::Online => self.on_online(id),
            WorkerEvent::Exited {
                status,
                uptime,
                failed_start,
            } => {
                let Some(worker) = self.workers.remove(&id) else {
                    return;
                };
                let (app, instance, pid) = (
                    &self.applied.config.name,
                    worker.handle.instance,
                    worker.handle.pid.as_raw(),
                );
                let uptime_ms = uptime.as_millis() as u64;
                if worker.stopping {
                    tracing::info!(%app, instance, pid, %status, uptime_ms, "worker stopped");
                } else {
                    tracing::warn!(%app, instance, pid, %status, uptime_ms, failed_start, "worker exited");
                }
                self.on_drained(id);
                let Some(slot) = self.slots.get_mut(worker.slot) else {
                    return;
                };
                let unexpected = !worker.stopping && !self.shutting_down;
                if slot.incoming == Some(id) {
                    slot.incoming = None;
                    let slot_empty = slot.active.is_none();
                    if unexpected {
                        let why = if failed_start {
                            "was not ready within listen_timeout".to_owned()
                        } else {
                            format!("exited ({status}) before it was ready")
                        };
                        self.abort_rollout(format!("new worker for instance {instance} {why}"));
                        if slot_empty {
                            self.on_crash(worker.slot, uptime, true);
                        }
                    }
                } else if slot.active == Some(id) {
                    slot.active = None;
                    // A replacement already on its way takes the slot over.
                    if unexpected && slot.incoming.is_none() {
                        self.on_crash(worker.slot, uptime, failed_start);
                    }
                }
            }
        }
    }

    fn on_online(&mut self, id: WorkerId) {
        let Some(worker) = self.workers.get_mut(&id) else {
            return;
        };
        worker.online = true;
        let slot_index = worker.slot;
        tracing::info!(app = %self.applied.config.name, instance = worker.handle.instance, pid = worker.handle.pid.as_raw(), "worker online");
        self.promote(slot_index, id);
    }

    fn on_crash(&mut self, slot_index: usize, uptime: std::time::Duration, failed_start: bool) {
        let app = self.applied.config.name.clone();
        let slot = &mut self.slots[slot_index];
        match slot
            .tracker
            .on_exit(&self.applied.policy, uptime, failed_start)
        {
            Decision::Restart { delay } => {
                let unstable = slot.tracker.unstable();
                tracing::info!(%app, instance = slot_index, delay_ms = delay.as_millis() as u64, unstable, "restarting worker");
                slot.restart_at = Some(Instant::now() + delay);
            }
            Decision::GiveUp => {
                slot.errored = true;
                let note = format!(
                    "instance {slot_index} exited {} times in a row before min_uptime",
                    slot.tracker.unstable()
                );
                tracing::error!(%app, instance = slot_index, reason = %note, "app errored");
                self.note = Some(note);
            }
            Decision::Stay => {
                tracing::info!(%app, instance = slot_index, "autorestart is off; worker stays stopped")
            }
        }
    }

    /// Spawns a worker for every slot whose restart time has come.
    fn start_due_slots(&mut self) {
        let now = Instant::now();
        for index in 0..self.slots.len() {
            let slot = &self.slots[index];
            if self.shutting_down || slot.restart_at.is_none_or(|at| at > now) {
                continue;
            }
            self.slots[index].restart_at = None;
            match self.spawn(index) {
                Ok(id) => self.slots[index].active = Some(id),
                Err(err) => {
                    tracing::error!(app = %self.applied.config.name, instance = index, %err, "cannot start worker");
                    self.on_crash(index, std::time::Duration::ZERO, true);
                }
            }
        }
    }

    fn spawn(&mut self, slot: usize) -> std::io::Result<WorkerId> {
        let id = self.next_id;
        self.next_id += 1;
        let handle = self.ctx.launcher.spawn(SpawnRequest {
            app: &self.applied.config,
            instance: slot,
            id,
            listeners: &self.applied.listeners,
            logs: &self.applied.logs,
            events: self.events_tx.clone(),
        })?;
        self.workers.insert(
            id,
            Worker {
                handle,
                slot,
                online: false,
                stopping: false,
                generation: self.applied.generation,
            },
        );
        Ok(id)
    }

    /// Asks a worker to drain, once: a second `kill_signal` means "exit now"
    /// to many servers and would cut its in-flight requests.
    fn stop_worker(&mut self, id: WorkerId) {
        if let Some(worker) = self.workers.get_mut(&id).filter(|w| !w.stopping) {
            worker.stopping = true;
            worker.handle.stop(
                self.applied.config.kill_signal,
                self.applied.config.kill_timeout,
            );
        }
    }

    /// Called once: the command queue is no longer read afterwards.
    fn shutdown(&mut self) {
        self.shutting_down = true;
        self.rollout = None;
        for slot in &mut self.slots {
            slot.restart_at = None;
        }
        let ids: Vec<WorkerId> = self.workers.keys().copied().collect();
        for id in ids {
            self.stop_worker(id);
        }
    }
}
