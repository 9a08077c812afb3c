//! Turning backend errors into [`DataError`]s.
//!
//! Unique and foreign-key violations become the variants the business layer
//! acts on; everything else is `Unavailable`, with the backend error kept as
//! the source for logs. Messages built here never contain SQL text.

use std::time::Duration;

use sqlx::error::{DatabaseError, ErrorKind};

use super::DataError;

/// Unique keys as the business layer names them, found by a fragment of
/// the backend's constraint name (PostgreSQL: `users_email_key`) or message
/// (SQLite: `UNIQUE constraint failed: index 'users_email_key'`). The first
/// match wins, so the more specific fragments come first.
const UNIQUE_KEYS: &[(&str, &str)] = &[
    ("email", "users.email"),
    ("slug", "posts.slug"),
    ("sessions", "sessions.token_hash"),
    ("throttle", "login_throttle.throttle_key"),
    ("notifications", "notifications.id"),
    ("comments", "comments.id"),
    ("post_tags", "post_tags.tag"),
    ("posts", "posts.id"),
    ("users", "users.id"),
];

impl From<sqlx::Error> for DataError {
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error {
            match db.kind() {
                ErrorKind::UniqueViolation => {
                    return Self::Conflict {
                        constraint: unique_key(db.as_ref()),
                    };
                }
                // A row referenced by the write (a post, a user) is gone.
                ErrorKind::ForeignKeyViolation => return Self::NotFound,
                _ => {}
            }
        }
        Self::Unavailable(Box::new(error))
    }
}

/// The SQLite writer's errors map as sqlx maps SQLite's: the same extended
/// result codes are unique and foreign-key violations, and the message
/// names the key.
impl From<rusqlite::Error> for DataError {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ffi;
        if let rusqlite::Error::SqliteFailure(failure, message) = &error {
            match failure.extended_code {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    return Self::Conflict {
                        constraint: key_named(message.as_deref().unwrap_or_default()),
                    };
                }
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY => return Self::NotFound,
                _ => {}
            }
        }
        Self::Unavailable(Box::new(error))
    }
}

impl From<sqlx::migrate::MigrateError> for DataError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        Self::Unavailable(Box::new(error))
    }
}

/// The business name of the unique key a violation reports.
fn unique_key(error: &dyn DatabaseError) -> &'static str {
    key_named(error.constraint().unwrap_or_else(|| error.message()))
}

/// The business name of the unique key `reported` (a constraint name, a
/// message, or a business name that came from another process as text)
/// names.
pub(crate) fn key_named(reported: &str) -> &'static str {
    UNIQUE_KEYS
        .iter()
        .find(|(fragment, _)| reported.contains(fragment))
        .map_or("unknown", |(_, key)| key)
}

/// `error: source: source...`: for logs, and for an error that travels
/// between processes as text.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A failure known to mean the database could not be reached, with no
/// driver error to tell it by: a call that ran out of time, or a failure
/// that reached the caller as text (from a task shared by many requests).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unreachable {
    /// The call did not end within its bound (a black-holed server, or one
    /// too loaded to answer).
    #[error("the database did not answer within {0:?}")]
    TimedOut(Duration),
    /// While the call waited, the database left a ping on another
    /// connection unanswered for the guard's whole check.
    #[error(
        "the database went silent: a ping went unanswered for {:?}",
        super::guard::CHECK_WITHIN
    )]
    Silent,
    /// Another task's call failed this way, and said so.
    #[error("{0}")]
    Reported(String),
}

/// The database refused no call: the circuit is open after the database
/// could not be reached, and the next try is in `retry_after`.
#[derive(Debug, thiserror::Error)]
#[error("the database was unreachable moments ago; the next try is in {retry_after:?}")]
pub struct CircuitOpen {
    /// When a call may go through again.
    pub retry_after: Duration,
}

/// Whether `error` means the database could not be reached (so the circuit
/// counts it), rather than that it answered with an error of its own (a
/// constraint, a bad query, a statement cancelled by its timeout).
pub(crate) fn unreachable(error: &DataError) -> bool {
    let DataError::Unavailable(source) = error else {
        return false;
    };
    let source = source.as_ref();
    if let Some(error) = source.downcast_ref::<sqlx::Error>() {
        return unreachable_sqlx(error);
    }
    if let Some(rusqlite::Error::SqliteFailure(failure, _)) = source.downcast_ref() {
        return matches!(
            failure.code,
            rusqlite::ErrorCode::SystemIoFailure
                | rusqlite::ErrorCode::CannotOpen
                | rusqlite::ErrorCode::DiskFull
        );
    }
    source.is::<std::io::Error>() || source.is::<Unreachable>()
}

/// Whether sqlx's `error` means the server could not be reached: no
/// connection, a broken one, or a server shutting down or full.
pub(crate) fn unreachable_sqlx(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Protocol(_) => true,
        // SQLSTATE class 08 is "connection exception"; 57P01-57P03 are
        // shutdowns and start-ups; 53300 is "too many connections".
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || ["57P01", "57P02", "57P03", "53300"].contains(&&*code)
        }),
        _ => false,
    }
}

/// A stored value this code cannot read back: the database was changed by
/// something other than this code. Kept as the source of `Unavailable`.
#[derive(Debug, thiserror::Error)]
#[error("stored {column} `{value}` is not valid; was the database edited by hand?")]
pub(crate) struct CorruptValue {
    /// Which column.
    pub(crate) column: &'static str,
    /// What it held.
    pub(crate) value: String,
}

impl CorruptValue {
    /// The error for `value` read from `column`.
    pub(crate) fn error(column: &'static str, value: impl Into<String>) -> DataError {
        DataError::Unavailable(Box::new(Self {
            column,
            value: value.into(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A conflict that travelled between processes as its key's name comes
    /// back as the same key.
    #[test]
    fn only_failures_to_reach_the_database_count_as_unreachable() {
        let unavailable = |e: Box<dyn std::error::Error + Send + Sync>| DataError::Unavailable(e);
        assert!(unreachable(&sqlx::Error::PoolTimedOut.into()));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(unreachable(&sqlx::Error::Io(refused).into()));
        assert!(unreachable(&unavailable(Box::new(Unreachable::TimedOut(
            Duration::from_secs(1)
        )))));
        assert!(!unreachable(&sqlx::Error::RowNotFound.into()));
        assert!(!unreachable(&sqlx::Error::PoolClosed.into()));
        assert!(!unreachable(&DataError::Conflict {
            constraint: "users.email"
        }));
        assert!(!unreachable(&DataError::NotFound));
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(!unreachable(&busy.into()));
        let io = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
            None,
        );
        assert!(unreachable(&io.into()));
    }

    #[test]
    fn every_business_key_names_itself() {
        for (_, key) in UNIQUE_KEYS {
            assert_eq!(key_named(key), *key);
        }
        assert_eq!(key_named("made.up"), "unknown");
    }
}
