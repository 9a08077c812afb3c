//! What systemd is told about the fleet, as sd_notify(3) describes it for
//! `Type=notify` and `Type=notify-reload`: `READY=1` once every app is
//! online, `STATUS=` when its line changes, `RELOADING=1` with
//! `MONOTONIC_USEC=` when a reload starts and `READY=1` again once its
//! rollouts are over (so systemd shows the unit `reloading` until then and
//! `systemctl reload` can wait for it), and `STOPPING=1` last.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sd_notify::NotifyState;
use tokio::sync::{oneshot, watch};

use super::apply::Pending;
use crate::app::{AppState, Fleet};
use crate::systemd;

/// What systemd was last told; shared with the tasks that wait for a
/// reload's rollouts, which say `READY=1` when they are over.
#[derive(Clone, Default)]
pub(super) struct Reported(Arc<Mutex<Told>>);

#[derive(Default)]
struct Told {
    /// `READY=1` was sent for the start: only a started service reloads.
    ready: bool,
    /// `STOPPING=1` was sent: nothing follows it.
    stopping: bool,
    /// Reloads under way: `READY=1` again when the last one is over.
    reloads: usize,
    status: String,
}

/// The fleet in one line, e.g. `api online 2/2; jobs reloading 1/2`.
fn summary(fleet: &Fleet) -> String {
    let apps: Vec<String> = fleet.values().map(ToString::to_string).collect();
    apps.join("; ")
}

impl Reported {
    fn told(&self) -> MutexGuard<'_, Told> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells systemd (and the log) how the fleet is doing: `READY=1` once
    /// every app is online, and `STATUS=` whenever its line changes (the
    /// fleet also changes with every memory sample, which is no news).
    pub(super) fn report(&self, fleet: &Fleet) {
        let summary = summary(fleet);
        let mut told = self.told();
        let all_online =
            !fleet.is_empty() && fleet.values().all(|app| app.state == AppState::Online);
        if all_online && !told.ready {
            tracing::info!(status = %summary, "all apps online");
            systemd::notify(&[NotifyState::Ready, NotifyState::Status(&summary)]);
            told.ready = true;
        } else if summary != told.status {
            systemd::notify(&[NotifyState::Status(&summary)]);
        }
        told.status = summary;
    }

    /// A reload starts: `RELOADING=1` with the time it started, each time
    /// (under `Type=notify-reload` systemd waits for one newer than its
    /// signal). Nothing is said before the start is over or once stopping.
    pub(super) fn reloading(&self, fleet: watch::Receiver<Fleet>) -> Reload {
        let mut told = self.told();
        if !told.ready || told.stopping {
            return Reload {
                announced: None,
                fleet,
            };
        }
        told.reloads += 1;
        let mut states = vec![NotifyState::Reloading];
        match NotifyState::monotonic_usec_now() {
            Ok(now) => states.push(now),
            Err(err) => tracing::warn!(%err, "cannot read CLOCK_MONOTONIC for systemd"),
        }
        systemd::notify(&states);
        Reload {
            announced: Some(self.clone()),
            fleet,
        }
    }

    /// The supervisor begins to stop: `STOPPING=1`, and no `READY=1` from
    /// a reload cut short by it.
    pub(super) fn stopping(&self) {
        self.told().stopping = true;
        systemd::notify(&[NotifyState::Stopping]);
    }
}

/// One reload systemd was told of (if it was told): over when its
/// rollouts are ([`Reload::until_done`]), or at once ([`Reload::refused`]).
pub(super) struct Reload {
    announced: Option<Reported>,
    fleet: watch::Receiver<Fleet>,
}

impl Reload {
    /// The file was refused and nothing changed: `READY=1` now.
    pub(super) fn refused(self) {
        self.over();
    }

    /// Waits for every rollout of `pending` in the background, says
    /// `READY=1`, then passes each outcome on: the operator's `corral
    /// reload` returns only after systemd knows the reload is over.
    pub(super) fn until_done(self, pending: Pending) -> Pending {
        let (forwards, passed_on): (Vec<_>, Pending) = pending
            .into_iter()
            .map(|(name, outcome)| {
                let (tx, rx) = oneshot::channel();
                ((outcome, tx), (name, rx))
            })
            .unzip();
        tokio::spawn(async move {
            let mut outcomes = Vec::with_capacity(forwards.len());
            for (outcome, tx) in forwards {
                outcomes.push((outcome.await, tx));
            }
            self.over();
            for (outcome, tx) in outcomes {
                // An app that ended without an outcome drops `tx`: the
                // waiter learns it the same way.
                if let Ok(outcome) = outcome {
                    let _ = tx.send(outcome);
                }
            }
        });
        passed_on
    }

    /// `READY=1` with the fleet's new line, once no reload is under way.
    fn over(self) {
        let Some(reported) = self.announced else {
            return;
        };
        let mut told = reported.told();
        told.reloads -= 1;
        if told.reloads > 0 || told.stopping {
            return;
        }
        let summary = summary(&self.fleet.borrow());
        tracing::info!(status = %summary, "reload over");
        systemd::notify(&[NotifyState::Ready, NotifyState::Status(&summary)]);
        told.status = summary;
    }
}
