//! Operators waiting on an app: `reload` until its rollout is over,
//! `start`, `restart` and `scale` until every worker is online, `stop`
//! until every worker is gone. Checked after every step of the manager.

use super::manager::Manager;
use super::{AppState, Done};
use crate::lifecycle::Phase;

/// What a waiter waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Goal {
    /// The rollout ends; then, like `Online`.
    Rollout {
        /// It completed (a stop resolves the waiter at once).
        completed: bool,
    },
    /// Every slot has one online worker and nothing else runs.
    Online,
    /// No worker runs.
    Stopped,
}

/// Someone waiting for a goal.
pub(super) struct Waiter {
    pub goal: Goal,
    pub done: Done,
    /// What to say when it is reached.
    pub success: String,
}

impl Manager {
    /// Resolves the waiters whose goal is reached or out of reach.
    pub(super) fn check_waiters(&mut self) {
        let state = self.machine.state();
        let settled = state == AppState::Online
            && self
                .machine
                .workers()
                .values()
                .all(|w| w.phase == Phase::Online);
        let note = self
            .machine
            .note()
            .unwrap_or("see `corral logs`")
            .to_owned();
        let name = self.name.clone();
        let mut waiting = Vec::new();
        for waiter in std::mem::take(&mut self.waiters) {
            let outcome = match (waiter.goal, state) {
                (Goal::Stopped, AppState::Stopped) => Some(Ok(waiter.success.clone())),
                (Goal::Stopped, _) => None,
                (_, AppState::Errored) => Some(Err(format!("{name} is errored: {note}"))),
                (_, AppState::Stopped | AppState::Stopping) => {
                    Some(Err(format!("{name} was stopped meanwhile")))
                }
                (Goal::Rollout { completed: false }, _) => None,
                (_, _) if settled => Some(Ok(waiter.success.clone())),
                _ => None,
            };
            match outcome {
                Some(outcome) => {
                    let _ = waiter.done.send(outcome);
                }
                None => waiting.push(waiter),
            }
        }
        self.waiters = waiting;
    }

    /// The rollout completed: its waiters now wait for the app to settle.
    pub(super) fn rollout_completed(&mut self) {
        for waiter in &mut self.waiters {
            if waiter.goal == (Goal::Rollout { completed: false }) {
                waiter.goal = Goal::Rollout { completed: true };
            }
        }
    }

    /// The rollout stopped, or a newer one took its place: its waiters
    /// learn why.
    pub(super) fn rollout_failed(&mut self, why: &str) {
        let name = self.name.clone();
        let (ended, waiting): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| w.goal == Goal::Rollout { completed: false });
        self.waiters = waiting;
        for waiter in ended {
            let _ = waiter.done.send(Err(format!("{name}: {why}")));
        }
    }
}
