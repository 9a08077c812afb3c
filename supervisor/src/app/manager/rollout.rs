//! Rolling reload of one app: a new worker per slot, ready before the old
//! one drains, one slot at a time.
//!
//! The new config is applied at once (new and restarted workers use it),
//! and the config before it is kept until the rollout completes. A rollout
//! that stops puts that config back, so the old workers, which keep
//! serving, are also restarted with the config that works.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::time::Instant;

use super::{Applied, Manager, Slot};
use crate::config::AppConfig;
use crate::policy::RestartPolicy;
use crate::worker::WorkerId;

/// A rolling reload in progress: the next slot to replace, and the old
/// worker that must be gone before moving on.
pub(super) struct Rollout {
    next: usize,
    draining: Option<WorkerId>,
}

impl Manager {
    pub(super) fn reload(
        &mut self,
        config: Arc<AppConfig>,
        listeners: Vec<OwnedFd>,
        log_dir: PathBuf,
    ) {
        if self.shutting_down {
            return;
        }
        tracing::info!(app = %config.name, "reload started");
        // Supersede a rollout in progress: its incoming workers are stopped
        // (never adopted half-way), an old worker still draining is waited
        // for, and the new rollout starts from slot 0.
        for index in 0..self.slots.len() {
            if let Some(incoming) = self.slots[index].incoming.take() {
                self.stop_worker(incoming);
            }
        }
        let draining = self.rollout.take().and_then(|r| r.draining);
        let logs = self.applied.logs.reconfigure(
            &log_dir,
            &config.logs.out,
            &config.logs.error,
            &config.log_date_format,
        );
        self.reloads += 1;
        let next = Applied {
            policy: RestartPolicy::from(&*config),
            config,
            listeners,
            logs,
            generation: self.reloads,
        };
        let replaced = std::mem::replace(&mut self.applied, next);
        // Only a config that every slot ran is known to work.
        if self.previous.is_none() {
            self.previous = Some(replaced);
        }
        self.note = None;
        self.resize();
        self.rollout = Some(Rollout { next: 0, draining });
        self.advance_rollout();
    }

    /// Matches the slots to the new instance count and restarts every slot
    /// that has no worker (errored, stopped by `autorestart = false`, or
    /// emptied by a superseded rollout), so a reload always ends with a
    /// worker in every slot.
    fn resize(&mut self) {
        let wanted = self.applied.config.instances.resolve(self.ctx.cpus);
        while self.slots.len() > wanted {
            let slot = self.slots.pop().expect("non-empty");
            for id in slot.active.into_iter().chain(slot.incoming) {
                self.stop_worker(id);
            }
        }
        self.slots.resize_with(wanted, Slot::default);
        let now = Instant::now();
        for slot in &mut self.slots {
            let empty = slot.active.is_none() && slot.incoming.is_none();
            if slot.errored || (empty && slot.restart_at.is_none()) {
                *slot = Slot {
                    restart_at: Some(now),
                    ..Slot::default()
                };
            }
        }
    }

    /// Starts the replacement for the next slot whose worker runs an older
    /// config, or ends the rollout when every slot is done.
    pub(super) fn advance_rollout(&mut self) {
        loop {
            let Some(rollout) = self.rollout.as_mut() else {
                return;
            };
            if rollout.draining.is_some() {
                return;
            }
            if rollout.next >= self.slots.len() {
                break;
            }
            let index = rollout.next;
            rollout.next += 1;
            let slot = &self.slots[index];
            let current = self.applied.generation;
            let outdated = slot
                .active
                .and_then(|id| self.workers.get(&id))
                .is_some_and(|w| w.generation != current);
            // A slot without a worker (or waiting for a restart, which uses
            // the new config anyway) has nothing to replace.
            if !outdated {
                continue;
            }
            match self.spawn(index) {
                Ok(id) => {
                    self.slots[index].incoming = Some(id);
                    return;
                }
                Err(err) => {
                    self.abort_rollout(format!(
                        "cannot start a new worker for instance {index}: {err}"
                    ));
                    return;
                }
            }
        }
        self.rollout = None;
        self.previous = None;
        tracing::info!(app = %self.applied.config.name, "reload complete");
    }

    /// Stops the rollout where it is and puts the last working config back.
    pub(super) fn abort_rollout(&mut self, reason: String) {
        tracing::error!(app = %self.applied.config.name, %reason, "reload stopped; the old workers keep serving");
        self.rollout = None;
        if let Some(previous) = self.previous.take() {
            self.applied = previous;
        }
        self.note = Some(format!("reload stopped: {reason}"));
    }

    /// A worker came online: if it is the slot's replacement, it takes the
    /// slot over and the old worker drains.
    pub(super) fn promote(&mut self, slot_index: usize, id: WorkerId) {
        let Some(slot) = self
            .slots
            .get_mut(slot_index)
            .filter(|s| s.incoming == Some(id))
        else {
            return;
        };
        slot.incoming = None;
        slot.restart_at = None;
        match slot.active.replace(id) {
            Some(old) => {
                self.stop_worker(old);
                if let Some(rollout) = self.rollout.as_mut() {
                    rollout.draining = Some(old);
                }
            }
            None => self.advance_rollout(),
        }
    }

    /// The old worker of the slot being replaced is gone: move on.
    pub(super) fn on_drained(&mut self, id: WorkerId) {
        if let Some(rollout) = self.rollout.as_mut().filter(|r| r.draining == Some(id)) {
            rollout.draining = None;
            self.advance_rollout();
        }
    }
}
