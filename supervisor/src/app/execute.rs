//! Carrying out the lifecycle's actions: processes, signals, probes and
//! samples. What happens later comes back as events on the manager's queue.

use std::time::Duration;

use nix::unistd::Pid;

use super::manager::{Manager, Running};
use crate::lifecycle::{Action, Event, KillCause, Reason, Sample, WorkerId};
use crate::watch::{health, usage};
use crate::worker::SpawnRequest;

impl Manager {
    /// Carries out one action; returns an event to feed back at once.
    pub(super) fn execute(&mut self, action: Action) -> Option<Event> {
        match action {
            Action::Spawn {
                worker,
                slot,
                generation,
                reason,
            } => self.spawn(worker, slot, generation, reason),
            Action::Stop { worker, cause } => {
                if let Some(running) = self.running.get(&worker) {
                    let h = &running.handle;
                    tracing::info!(app = %self.name, instance = h.instance, pid = h.pid.as_raw(), %cause, signal = %running.kill_signal, "stopping worker");
                    h.stop(running.kill_signal);
                    let (instance, pid) = (h.instance, h.pid.as_raw());
                    self.history
                        .record(instance, Some(pid), format!("told to stop: {cause}"));
                }
                None
            }
            Action::Kill { worker, why } => {
                if let Some(running) = self.running.get(&worker) {
                    let h = &running.handle;
                    let (app, instance, pid) = (&self.name, h.instance, h.pid.as_raw());
                    match why {
                        KillCause::NotReady => {
                            tracing::warn!(%app, instance, pid, "worker not ready within listen_timeout; killing it")
                        }
                        KillCause::DrainTimeout => {
                            tracing::warn!(%app, instance, pid, "worker still running at kill_timeout; killing its process tree")
                        }
                    }
                    h.kill();
                }
                None
            }
            Action::Probe(worker) => {
                self.probe(worker);
                None
            }
            Action::Sample(workers) => {
                self.sample(&workers);
                None
            }
            Action::Report(report) => {
                self.log(report);
                None
            }
        }
    }

    fn spawn(
        &mut self,
        worker: WorkerId,
        slot: usize,
        generation: u64,
        reason: Option<Reason>,
    ) -> Option<Event> {
        let Some(applied) = self.configs.get(&generation) else {
            let error = format!("the config of generation {generation} is gone");
            return Some(Event::SpawnFailed { worker, error });
        };
        let spawned = self.ctx.launcher.spawn(SpawnRequest {
            app: &applied.config,
            instance: slot,
            instances: self.machine.slots().len(),
            id: worker,
            listeners: &applied.listeners,
            logs: &self.logs,
            events: self.events_tx.clone(),
        });
        let reason = reason.map_or("start", Reason::as_str);
        match spawned {
            Ok(handle) => {
                tracing::info!(app = %self.name, instance = slot, pid = handle.pid.as_raw(), %reason, generation, health_addr = %handle.health_addr, "worker spawned");
                self.history.record(
                    slot,
                    Some(handle.pid.as_raw()),
                    format!("spawned ({reason})"),
                );
                let kill_signal = applied.config.kill_signal;
                self.running.insert(
                    worker,
                    Running {
                        handle,
                        kill_signal,
                        generation,
                        started_at: chrono::Utc::now(),
                    },
                );
                None
            }
            Err(err) => Some(Event::SpawnFailed {
                worker,
                error: err.to_string(),
            }),
        }
    }

    /// Probes the worker's health socket in a task of its own; the result
    /// comes back as [`Event::Probed`].
    fn probe(&self, worker: WorkerId) {
        let Some(running) = self.running.get(&worker) else {
            return;
        };
        let config = self
            .configs
            .get(&running.generation)
            .unwrap_or_else(|| self.current());
        let Some(check) = config.config.health_check.as_ref() else {
            return;
        };
        let (addr, path, timeout) = (
            running.handle.health_addr,
            check.path.clone(),
            check.timeout,
        );
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            let outcome = match health::probe(addr, &path, timeout).await {
                health::Probe::Pass { .. } => Ok(()),
                health::Probe::Fail { reason } => Err(reason),
            };
            let _ = events.send(Event::Probed { worker, outcome });
        });
    }

    /// Samples memory and CPU off the runtime thread (it reads /proc); the
    /// result comes back as [`Event::Sampled`].
    fn sample(&self, workers: &[WorkerId]) {
        let pids: Vec<(WorkerId, Pid)> = workers
            .iter()
            .filter_map(|id| Some((*id, self.running.get(id)?.handle.pid)))
            .collect();
        let events = self.events_tx.clone();
        let containment = self.ctx.launcher.table.containment().clone();
        tokio::task::spawn_blocking(move || {
            // A worker with a cgroup is exactly its members; without one,
            // its tree is found from /proc.
            let roots: Vec<usage::Root> = pids
                .iter()
                .map(|&(_, pid)| usage::Root {
                    pid,
                    members: containment.members(pid),
                })
                .collect();
            let mut found = usage::sample(&roots);
            let samples = pids
                .into_iter()
                .filter_map(|(id, pid)| {
                    let usage = found.remove(&pid)?;
                    Some((
                        id,
                        Sample {
                            pss: usage.pss,
                            cpu: usage.cpu,
                        },
                    ))
                })
                .collect();
            let _ = events.send(Event::Sampled(samples));
        });
    }
}

/// Milliseconds, for log fields.
pub(super) fn ms(duration: Duration) -> u64 {
    duration.as_millis().try_into().unwrap_or(u64::MAX)
}
