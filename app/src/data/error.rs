//! Turning backend errors into [`DataError`]s.
//!
//! Unique and foreign-key violations become the variants the business layer
//! acts on; everything else is `Unavailable`, with the backend error kept as
//! the source for logs. Messages built here never contain SQL text.

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
    fn every_business_key_names_itself() {
        for (_, key) in UNIQUE_KEYS {
            assert_eq!(key_named(key), *key);
        }
        assert_eq!(key_named("made.up"), "unknown");
    }
}
