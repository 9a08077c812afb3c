//! Publishing the app's state into the shared fleet channel.

use super::manager::Manager;
use super::{AppStatus, WorkerState, WorkerStatus};
use crate::lifecycle::Phase;
use crate::logs::Stream;

impl Manager {
    pub(super) fn publish(&self) {
        let mut workers: Vec<WorkerStatus> = self
            .machine
            .workers()
            .values()
            .filter_map(|w| {
                let running = self.running.get(&w.id)?;
                Some(WorkerStatus {
                    instance: w.slot,
                    pid: running.handle.pid.as_raw(),
                    state: match w.phase {
                        Phase::Launching => WorkerState::Launching,
                        Phase::Online => WorkerState::Online,
                        Phase::Unresponsive(_) => WorkerState::Unresponsive,
                        Phase::Draining { .. } | Phase::Killed { .. } => WorkerState::Stopping,
                    },
                    reason: w.reason,
                    pss: w.usage.map(|u| u.pss),
                })
            })
            .collect();
        workers.sort_by_key(|w| (w.instance, w.pid));
        let status = AppStatus {
            name: self.name.clone(),
            manager: self.serial,
            state: self.machine.state(),
            desired: self.machine.slots().len(),
            workers,
            dropped_lines: (
                self.logs.dropped.get(Stream::Out),
                self.logs.dropped.get(Stream::Err),
            ),
            note: self.machine.note().map(str::to_owned),
        };
        self.ctx.fleet.send_if_modified(|fleet| {
            let newer = fleet
                .get(&status.name)
                .is_some_and(|s| s.manager > self.serial);
            if newer || fleet.get(&status.name) == Some(&status) {
                return false;
            }
            fleet.insert(status.name.clone(), status);
            true
        });
    }

    /// Removes the app's entry, unless it belongs to a newer manager of an
    /// app added back under the same name.
    pub(super) fn unpublish(&self) {
        self.ctx.fleet.send_if_modified(|fleet| {
            let ours = fleet
                .get(&self.name)
                .is_some_and(|s| s.manager == self.serial);
            if ours {
                fleet.remove(&self.name);
            }
            ours
        });
    }
}
