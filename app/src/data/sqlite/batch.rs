//! What the writer does when a step of a batch fails: the decisions, kept
//! apart from the async code that carries them out so each case is tested.
//!
//! A batch is `BEGIN IMMEDIATE`, then per job `SAVEPOINT`, the job's
//! statements, and `RELEASE` (or `ROLLBACK TO` when the job failed), then
//! one `COMMIT`. A job's own error is undone by its savepoint and is that
//! job's answer alone; any other failure leaves the transaction in a state
//! the writer cannot trust, so the whole batch is rolled back.

/// A step of a batch whose failure is the batch's, not one job's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// `BEGIN IMMEDIATE`: taking the database's write lock.
    Begin,
    /// Opening a job's savepoint.
    OpenSavepoint,
    /// Releasing the savepoint of a job that succeeded, or rolling back to
    /// the savepoint of one that failed.
    CloseSavepoint,
    /// The one `COMMIT` of the batch.
    Commit,
}

impl Step {
    /// How the step reads in an error message.
    pub(super) fn describe(self) -> &'static str {
        match self {
            Self::Begin => "taking the write lock (BEGIN IMMEDIATE)",
            Self::OpenSavepoint => "opening a savepoint",
            Self::CloseSavepoint => "closing a savepoint",
            Self::Commit => "committing",
        }
    }
}

/// What becomes of the jobs of a batch that has not run them yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Unrun {
    /// Into the next batch: nothing of them was written, and the failure
    /// was the connection's, so a fresh connection may well succeed.
    Requeue,
    /// Answered with the failure: the database itself refused (the write
    /// lock stayed taken for the whole busy timeout, or `BEGIN` failed),
    /// and trying again at once would only make callers wait longer.
    Fail,
}

/// What the writer does after a batch failed. The batch is rolled back
/// whole; the jobs that had run are answered with the failure (their work
/// is gone), the others go as `unrun` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Recovery {
    /// What becomes of the jobs not run yet.
    pub(super) unrun: Unrun,
    /// Whether to close the connection and open a new one: after a failure
    /// that may have left it inside a transaction, it must not serve
    /// another batch.
    pub(super) reopen: bool,
}

/// What to do after `step` failed; `busy` says whether SQLite answered
/// that another connection held the lock (after waiting `busy_timeout`).
pub(super) fn recover(step: Step, busy: bool) -> Recovery {
    match step {
        // No transaction was opened: the connection is as it was, unless
        // something other than the lock went wrong.
        Step::Begin => Recovery {
            unrun: Unrun::Fail,
            reopen: !busy,
        },
        // Inside the transaction, SQLite may have rolled it back on its own
        // (it does on some I/O and memory errors), and the `ROLLBACK` may
        // fail too: whatever the writer believes about the connection may
        // be wrong, so it goes.
        Step::OpenSavepoint | Step::CloseSavepoint | Step::Commit => Recovery {
            unrun: Unrun::Requeue,
            reopen: true,
        },
    }
}

/// Whether the writer may keep using its connection after a batch: only
/// when nothing asked for a new one and SQLite says it is outside any
/// transaction (a connection that is not, is never used again).
pub(super) fn keep_connection(reopen: bool, in_transaction: bool) -> bool {
    !reopen && !in_transaction
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_still_taken_after_the_busy_timeout_fails_the_batch_but_keeps_the_connection() {
        assert_eq!(
            recover(Step::Begin, true),
            Recovery {
                unrun: Unrun::Fail,
                reopen: false
            }
        );
    }

    #[test]
    fn any_other_begin_failure_fails_the_batch_and_replaces_the_connection() {
        assert_eq!(
            recover(Step::Begin, false),
            Recovery {
                unrun: Unrun::Fail,
                reopen: true
            }
        );
    }

    #[test]
    fn a_failure_inside_the_transaction_requeues_the_unrun_and_replaces_the_connection() {
        for step in [Step::OpenSavepoint, Step::CloseSavepoint, Step::Commit] {
            for busy in [false, true] {
                assert_eq!(
                    recover(step, busy),
                    Recovery {
                        unrun: Unrun::Requeue,
                        reopen: true
                    },
                    "{step:?}, busy: {busy}"
                );
            }
        }
    }

    #[test]
    fn a_connection_is_kept_only_when_it_is_surely_outside_any_transaction() {
        assert!(keep_connection(false, false));
        assert!(!keep_connection(true, false));
        assert!(!keep_connection(false, true));
    }
}
