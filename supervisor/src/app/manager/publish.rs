//! Publishing the app's state into the shared fleet channel.

use super::super::{AppState, AppStatus, WorkerState, WorkerStatus};
use super::Manager;

impl Manager {
    pub(super) fn publish(&self) {
        let mut workers: Vec<WorkerStatus> = self
            .workers
            .values()
            .map(|w| WorkerStatus {
                instance: w.handle.instance,
                pid: w.handle.pid.as_raw(),
                state: match (w.stopping, w.online) {
                    (true, _) => WorkerState::Stopping,
                    (false, true) => WorkerState::Online,
                    (false, false) => WorkerState::Launching,
                },
            })
            .collect();
        workers.sort_by_key(|w| (w.instance, w.pid));
        let all_online = self.slots.iter().all(|s| {
            s.active.is_some_and(|id| {
                self.workers
                    .get(&id)
                    .is_some_and(|w| w.online && !w.stopping)
            })
        });
        let state = if self.slots.iter().any(|s| s.errored) {
            AppState::Errored
        } else if self.workers.is_empty()
            && (self.shutting_down || self.slots.iter().all(|s| s.restart_at.is_none()))
        {
            AppState::Stopped
        } else if all_online {
            AppState::Online
        } else {
            AppState::Launching
        };
        let status = AppStatus {
            name: self.applied.config.name.clone(),
            state,
            desired: self.slots.len(),
            workers,
            note: self.note.clone(),
        };
        self.ctx.fleet.send_if_modified(|fleet| {
            if fleet.get(&status.name) == Some(&status) {
                return false;
            }
            fleet.insert(status.name.clone(), status);
            true
        });
    }
}
