//! Session checks answered from memory, as strict as the database.
//!
//! Every authenticated request checks its bearer token, and on SQLite that
//! check was a query through sqlx's pool: a hand-off to a reader thread and
//! back for every request. Measured under a stream of post creations
//! (bench S4, five rounds, medians), the app alone went from 8,002 to
//! 11,281 requests/s and two workers under corral from 7,040 to 10,485.
//!
//! An entry is the user a session check found, keyed by the token's hash
//! and stamped with the sessions' counter ([`super::generation::SESSIONS`],
//! in memory shared by every process on the file) as read before the
//! query. A commit that revokes a session or changes a role moves the
//! counter before it is acknowledged, through the same protocol as the
//! content generation (see `generation`), so once a revocation is
//! acknowledged no process answers from an entry made before it: the
//! counter it reads no longer matches. A session's expiry is checked on
//! every hit, as the query checks it. A token that finds no session is
//! never kept, so made-up tokens cannot fill the cache.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::generation::SharedGeneration;
use crate::data::generation::{ContentGeneration as _, Generation};
use crate::data::{DataResult, User};

/// Sessions kept per process: far more than the clients of one worker at
/// once, a few hundred bytes each.
const ENTRIES: u64 = 4096;

/// What a session check found, at the counter it was read under.
#[derive(Clone)]
struct Entry {
    /// The sessions' counter as read before the query.
    taken: Generation,
    /// The session's user.
    user: User,
    /// When the session ends.
    expires_at: DateTime<Utc>,
}

/// This process's remembered session checks.
pub(super) struct SessionCache {
    /// The sessions' counter shared by the processes on the file.
    counter: Arc<SharedGeneration>,
    /// By token hash.
    entries: moka::future::Cache<Vec<u8>, Entry>,
}

impl SessionCache {
    /// An empty cache keyed by `counter`.
    pub(super) fn new(counter: Arc<SharedGeneration>) -> Self {
        Self {
            counter,
            entries: moka::future::Cache::new(ENTRIES),
        }
    }

    /// The user of the unexpired session `token_hash` at `now`: from memory
    /// when an entry was made at the current counter, else what `load`
    /// finds (the user and the session's end), kept when no revocation
    /// may have landed meanwhile.
    pub(super) async fn user_for<F>(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
        load: F,
    ) -> DataResult<Option<User>>
    where
        F: Future<Output = DataResult<Option<(User, DateTime<Utc>)>>>,
    {
        let taken = self.counter.read();
        if let Some(entry) = self.entries.get(token_hash).await
            && entry.taken == taken
            && entry.expires_at > now
        {
            return Ok(Some(entry.user));
        }
        let Some((user, expires_at)) = load.await? else {
            self.entries.invalidate(token_hash).await;
            return Ok(None);
        };
        if self.counter.still(taken) {
            let entry = Entry {
                taken,
                user: user.clone(),
                expires_at,
            };
            self.entries.insert(token_hash.to_vec(), entry).await;
        }
        Ok(Some(user))
    }
}
