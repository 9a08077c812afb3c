//! What happened to an app's workers lately, for `corral describe`: a
//! bounded record of spawns, readiness, replacements and exits.

use std::collections::VecDeque;

use chrono::Utc;

use crate::control::describe::HistoryEntry;

/// Entries kept per app; older ones are forgotten.
const KEPT: usize = 50;

/// The recent history of one app.
#[derive(Debug, Default)]
pub(super) struct History(VecDeque<HistoryEntry>);

impl History {
    /// Records `event` of the worker in `instance` (with `pid`), now.
    pub fn record(&mut self, instance: usize, pid: Option<i32>, event: String) {
        if self.0.len() == KEPT {
            self.0.pop_front();
        }
        self.0.push_back(HistoryEntry {
            at: Utc::now(),
            instance,
            pid,
            event,
        });
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> Vec<HistoryEntry> {
        self.0.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_latest_entries_are_kept() {
        let mut history = History::default();
        for n in 0..KEPT + 5 {
            history.record(0, Some(n as i32), format!("event {n}"));
        }
        let entries = history.entries();
        assert_eq!(entries.len(), KEPT);
        assert_eq!(entries[0].event, "event 5");
    }
}
