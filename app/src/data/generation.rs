//! The content generation: what cached reads are keyed by, so that no read
//! after an acknowledged write to posts, tags or comments reaches an entry
//! made before it, in any worker.
//!
//! Each backend keeps it where reading it costs least while staying
//! strict: SQLite (one machine) in shared memory beside the database file
//! ([`super::sqlite`]'s `generation` module), PostgreSQL (many hosts) in the
//! database, read by one query per batch of concurrent requests
//! ([`super::postgres`]'s `generation` module).

use std::fmt;

use async_trait::async_trait;

use super::DataResult;

/// A content generation as read before a cached read: the key part that
/// names it, unique per database (a random epoch or value is part of it, so
/// databases sharing a Redis never meet on a key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Generation {
    /// What names the database (a random epoch), or 0 where `serial` is
    /// already random.
    pub(crate) epoch: u64,
    /// The value that changes with every write.
    pub(crate) serial: u64,
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}.{:x}", self.epoch, self.serial)
    }
}

/// Where the content generation is read, and whether what a read loaded
/// may be kept.
#[async_trait]
pub trait ContentGeneration: Send + Sync {
    /// The generation to key a read with now: it reflects every write
    /// acknowledged before this call.
    async fn current(&self) -> DataResult<Generation>;
    /// Whether a value loaded from the database after `taken` was read may
    /// be stored under `taken`: false while a write may be between its
    /// commit and the generation's change, since the value may then predate
    /// a write that readers using `taken` must see.
    fn still(&self, taken: Generation) -> bool;
}
