//! What health probes and memory samples decide.

use tokio::time::Instant;

use super::{App, Phase, Readiness, Reason, Report, Sample, WorkerId};

impl App {
    pub(super) fn on_probed(&mut self, id: WorkerId, outcome: Result<(), String>, now: Instant) {
        let health = self.params.health;
        let Some(w) = self.workers.get_mut(&id) else {
            return;
        };
        w.probing = false;
        let Some(health) = health else {
            w.next_probe = None;
            return;
        };
        w.last_probe = Some(outcome.clone());
        // The next probe was scheduled when this one was sent.
        match (w.phase, outcome) {
            (Phase::Launching, Ok(())) if w.readiness == Readiness::Health => {
                self.go_online(id, now)
            }
            (Phase::Launching, _) => {}
            (Phase::Online, Ok(())) => w.health_failures = 0,
            (Phase::Online, Err(detail)) => {
                if now < w.started + health.grace_period {
                    return;
                }
                w.health_failures += 1;
                let failures = w.health_failures;
                self.report(Report::HealthFailed {
                    worker: id,
                    failures,
                    detail: detail.clone(),
                });
                if failures >= health.failures {
                    let detail =
                        format!("{failures} health checks failed in a row; last: {detail}");
                    self.make_unresponsive(id, Reason::Health, detail);
                }
            }
            _ => w.next_probe = None,
        }
    }

    pub(super) fn on_sampled(&mut self, samples: Vec<(WorkerId, Sample)>, now: Instant) {
        self.sampling = false;
        let limit = self.params.memory.map(|m| (m.bytes, m.samples));
        for (id, sample) in samples {
            let Some(w) = self.workers.get_mut(&id) else {
                continue;
            };
            if !w.record_sample(sample, now, limit) {
                continue;
            }
            let (slot, over) = (w.slot, w.memory_over);
            let wanted = self
                .slots
                .get(slot)
                .is_some_and(|s| s.current == Some(id) && s.replace.is_none());
            if let (true, Some((bytes, _))) = (wanted, limit) {
                let detail = format!(
                    "PSS {} over the {} limit on {over} samples in a row",
                    mib(sample.pss),
                    mib(bytes)
                );
                self.report(Report::Replacing {
                    worker: id,
                    reason: Reason::Memory,
                    detail,
                });
                self.condemn(slot, id, Reason::Memory);
            }
        }
    }
}

/// Bytes as MiB with one decimal, for messages.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
