//! Publishing the app's state into the shared fleet channel.

use super::manager::Manager;
use super::{AppStatus, DroppedLines, Health, WorkerState, WorkerStatus};
use crate::lifecycle::Phase;
use crate::logs::Stream;

impl Manager {
    /// Publishes the app's status into the fleet.
    pub(super) fn publish(&self) {
        let status = self.status();
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

    /// The app as operators see it now.
    pub(super) fn status(&self) -> AppStatus {
        let mut workers: Vec<WorkerStatus> = self
            .machine
            .workers()
            .values()
            .filter_map(|w| {
                let running = self.running.get(&w.id)?;
                let slot = self.machine.slots().get(w.slot);
                let checked = self.current().config.health_check.is_some();
                Some(WorkerStatus {
                    instance: w.slot,
                    pid: running.handle.pid.as_raw(),
                    state: match w.phase {
                        Phase::Launching => WorkerState::Launching,
                        Phase::Online => WorkerState::Online,
                        Phase::Unresponsive(_) => WorkerState::Unresponsive,
                        Phase::Draining { .. } | Phase::Killed { .. } => WorkerState::Stopping,
                    },
                    started_at: running.started_at,
                    reason: w.reason,
                    restarts: slot.map_or(0, |s| s.restarts),
                    last_reason: slot.and_then(|s| s.last_reason),
                    memory_bytes: w.usage.map(|u| u.pss),
                    cpu_percent: w.usage.map(|u| u.cpu_percent),
                    health: checked.then_some(match &w.last_probe {
                        None => Health::Pending,
                        Some(Ok(())) => Health::Pass,
                        Some(Err(_)) => Health::Fail,
                    }),
                    health_detail: w.last_probe.clone().and_then(Result::err),
                })
            })
            .collect();
        workers.sort_by_key(|w| (w.instance, w.pid));
        let online = workers
            .iter()
            .filter(|w| w.state == WorkerState::Online)
            .count();
        AppStatus {
            name: self.name.clone(),
            manager: self.serial,
            state: self.machine.state(),
            desired: self.machine.slots().len(),
            online,
            restarts: self.machine.restarts().clone(),
            dropped_lines: DroppedLines {
                out: self.logs.dropped.get(Stream::Out),
                err: self.logs.dropped.get(Stream::Err),
            },
            note: self.machine.note().map(str::to_owned),
            workers,
        }
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
