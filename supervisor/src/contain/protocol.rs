//! What the supervisor tells the guard, and what both remember of it.
//!
//! Messages travel one JSON object per line down a pipe that only the
//! supervisor can write to. Both ends keep the same [`Ledger`]: the guard
//! acts on it when the pipe closes, and the supervisor replays its copy to
//! a new guard if the old one died.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One instruction to the guard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Message {
    /// Kill this worker's tree if the supervisor dies.
    Protect {
        /// The worker's pid, which is also its process group id.
        pgid: i32,
        /// The worker's start time (`/proc/PID/stat`, clock ticks after
        /// boot), so that a reused pid is never mistaken for the worker.
        start: Option<u64>,
        /// The worker's cgroup, when it has one.
        cgroup: Option<PathBuf>,
    },
    /// The worker is gone and is about to be reaped, after which its pid
    /// may be reused: never touch it again.
    Forget {
        /// As in [`Message::Protect`].
        pgid: i32,
    },
    /// Remove this directory of worker cgroups, killing whatever is still
    /// in it, if the supervisor dies.
    Cleanup {
        /// The directory.
        dir: PathBuf,
    },
}

impl Message {
    /// The message as one line.
    pub fn encode(&self) -> io::Result<Vec<u8>> {
        let mut line = serde_json::to_vec(self)?;
        line.push(b'\n');
        Ok(line)
    }

    /// Reads one line written by [`Message::encode`].
    pub fn decode(line: &str) -> serde_json::Result<Self> {
        serde_json::from_str(line)
    }
}

/// A protected worker, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protected {
    /// See [`Message::Protect`].
    pub start: Option<u64>,
    /// See [`Message::Protect`].
    pub cgroup: Option<PathBuf>,
}

/// What the guard must kill and remove when the supervisor dies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    groups: BTreeMap<i32, Protected>,
    dirs: Vec<PathBuf>,
}

impl Ledger {
    /// Records one message.
    pub fn apply(&mut self, message: Message) {
        match message {
            Message::Protect {
                pgid,
                start,
                cgroup,
            } => {
                self.groups.insert(pgid, Protected { start, cgroup });
            }
            Message::Forget { pgid } => {
                self.groups.remove(&pgid);
            }
            Message::Cleanup { dir } => {
                if !self.dirs.contains(&dir) {
                    self.dirs.push(dir);
                }
            }
        }
    }

    /// The protected workers by process group id.
    pub fn groups(&self) -> impl Iterator<Item = (i32, &Protected)> {
        self.groups.iter().map(|(&pgid, p)| (pgid, p))
    }

    /// The cgroup of the protected worker `pgid`, if it has one.
    pub fn cgroup_of(&self, pgid: i32) -> Option<&Path> {
        self.groups.get(&pgid)?.cgroup.as_deref()
    }

    /// The directories to remove.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Messages that rebuild this ledger from scratch, for a new guard.
    pub fn replay(&self) -> Vec<Message> {
        let dirs = self
            .dirs
            .iter()
            .map(|dir| Message::Cleanup { dir: dir.clone() });
        let groups = self.groups.iter().map(|(&pgid, p)| Message::Protect {
            pgid,
            start: p.start,
            cgroup: p.cgroup.clone(),
        });
        dirs.chain(groups).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn protect(pgid: i32, cgroup: Option<&str>) -> Message {
        Message::Protect {
            pgid,
            start: Some(1234),
            cgroup: cgroup.map(PathBuf::from),
        }
    }

    #[test]
    fn every_message_is_one_line_that_reads_back_the_same() {
        let messages = [
            protect(10, Some("/sys/fs/cgroup/a b/worker-1-api-0")),
            protect(11, None),
            Message::Forget { pgid: 10 },
            Message::Cleanup {
                dir: PathBuf::from("/sys/fs/cgroup/corral-9"),
            },
        ];
        for message in messages {
            let line = message.encode().expect("encode");
            assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
            assert_eq!(line.last(), Some(&b'\n'));
            let text = std::str::from_utf8(&line).expect("utf-8");
            assert_eq!(Message::decode(text.trim_end()).expect("decode"), message);
        }
    }

    #[test]
    fn garbage_and_unknown_fields_are_refused() {
        assert!(Message::decode("protect 10").is_err());
        assert!(Message::decode(r#"{"forget":{"pgid":1,"extra":2}}"#).is_err());
        assert!(Message::decode(r#"{"kill_everything":{}}"#).is_err());
    }

    #[test]
    fn a_forgotten_worker_is_no_longer_protected() {
        let mut ledger = Ledger::default();
        ledger.apply(protect(10, Some("/cg/w1")));
        ledger.apply(protect(11, None));
        ledger.apply(Message::Forget { pgid: 10 });
        ledger.apply(Message::Forget { pgid: 99 });
        let pgids: Vec<i32> = ledger.groups().map(|(pgid, _)| pgid).collect();
        assert_eq!(pgids, [11]);
        assert_eq!(ledger.cgroup_of(10), None);
    }

    #[test]
    fn a_replay_rebuilds_the_same_ledger() {
        let mut ledger = Ledger::default();
        ledger.apply(Message::Cleanup {
            dir: PathBuf::from("/cg/base"),
        });
        ledger.apply(Message::Cleanup {
            dir: PathBuf::from("/cg/base"),
        });
        ledger.apply(protect(10, Some("/cg/base/w1")));
        ledger.apply(protect(12, None));
        let mut rebuilt = Ledger::default();
        ledger.replay().into_iter().for_each(|m| rebuilt.apply(m));
        assert_eq!(rebuilt, ledger);
        assert_eq!(rebuilt.dirs().len(), 1);
        assert_eq!(rebuilt.cgroup_of(10), Some(Path::new("/cg/base/w1")));
    }
}
