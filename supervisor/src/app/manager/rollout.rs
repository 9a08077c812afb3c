//! Rolling reload of one app: a new worker per slot, ready before the old
//! one drains, one slot at a time.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::time::Instant;

use super::{Manager, Slot, open_logs};
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
        // (never adopted half-way) and the new rollout starts from slot 0.
        for index in 0..self.slots.len() {
            if let Some(incoming) = self.slots[index].incoming.take() {
                self.stop_worker(incoming);
            }
        }
        self.config = config;
        self.policy = RestartPolicy::from(&*self.config);
        self.listeners = listeners;
        self.logs = open_logs(&log_dir, &self.config);
        self.note = None;
        let wanted = self.config.instances.resolve(self.ctx.cpus);
        let now = Instant::now();
        while self.slots.len() > wanted {
            let slot = self.slots.pop().expect("non-empty");
            for id in slot.active.into_iter().chain(slot.incoming) {
                self.stop_worker(id);
            }
        }
        for slot in &mut self.slots {
            if slot.errored {
                *slot = Slot {
                    restart_at: Some(now),
                    ..Slot::default()
                };
            }
        }
        self.slots.resize_with(wanted, || Slot {
            restart_at: Some(now),
            ..Slot::default()
        });
        self.rollout = Some(Rollout {
            next: 0,
            draining: None,
        });
        self.advance_rollout();
    }

    /// Starts the replacement for the next slot that has a running worker,
    /// or ends the rollout when every slot is done.
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
            if slot.active.is_none() || slot.restart_at.is_some() {
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
        tracing::info!(app = %self.config.name, "reload complete");
    }

    pub(super) fn abort_rollout(&mut self, reason: String) {
        tracing::error!(app = %self.config.name, %reason, "reload stopped; the old workers keep serving");
        self.rollout = None;
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
