//! What the processes sharing one SQLite file say to the writer host.
//!
//! One JSON document per line (compact JSON never holds a raw newline),
//! between processes of one build over a socket only they can open, so
//! there is no versioning. The records that hold a secret (a password or
//! token hash) keep no serde derive of their own, so no response can ever
//! serialise one by accident; their field lists below are serde's "remote"
//! mirrors, which the compiler checks against the records.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use super::writes::Written;
use crate::data::error::{error_chain, key_named};
use crate::data::{DataError, NewSession, NewUser, Role, ThrottleLimits, User};

/// `value` as one line of compact JSON, the unit of the wire.
pub(super) fn line(value: &impl Serialize) -> serde_json::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec(value)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// A write sent to the host; `seq` pairs it with its reply. Sent as
/// `Request<&Write>`, read as `Request<Write>`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Request<W> {
    /// Unique per connection, chosen by the sender.
    pub(super) seq: u64,
    /// The write.
    pub(super) write: W,
}

/// What the host sends back.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum Frame {
    /// The host took the connection; sent before it reads anything. A
    /// connection that ends before it was never taken (it was still in the
    /// listener's queue when the host stopped), so nothing sent on it ran.
    Hello,
    /// The outcome of the request `seq`: its transaction committed (or
    /// the write failed and is not in the database).
    Reply {
        /// The request's `seq`.
        seq: u64,
        /// What it returned (boxed: a post is large beside a goodbye).
        outcome: Box<Result<Written, WireError>>,
    },
    /// The host stops writing for others: every request it read has been
    /// answered, so any unanswered one was never read and never ran.
    Goodbye,
}

/// A [`DataError`] as it travels.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum WireError {
    /// [`DataError::Conflict`] on this key.
    Conflict(String),
    /// [`DataError::NotFound`].
    NotFound,
    /// [`DataError::VersionMismatch`].
    VersionMismatch,
    /// Anything else, as its message.
    Unavailable(String),
}

impl From<DataError> for WireError {
    fn from(error: DataError) -> Self {
        match error {
            DataError::Conflict { constraint } => Self::Conflict(constraint.to_owned()),
            DataError::NotFound => Self::NotFound,
            DataError::VersionMismatch => Self::VersionMismatch,
            DataError::Unavailable(source) => Self::Unavailable(error_chain(source.as_ref())),
            other => Self::Unavailable(error_chain(&other)),
        }
    }
}

impl From<WireError> for DataError {
    fn from(error: WireError) -> Self {
        match error {
            WireError::Conflict(key) => Self::Conflict {
                constraint: key_named(&key),
            },
            WireError::NotFound => Self::NotFound,
            WireError::VersionMismatch => Self::VersionMismatch,
            WireError::Unavailable(message) => Self::Unavailable(message.into()),
        }
    }
}

/// The wire fields of [`User`].
#[derive(Serialize, Deserialize)]
#[serde(remote = "User")]
pub(super) struct UserWire {
    id: Uuid,
    email: String,
    name: String,
    password_hash: String,
    role: Role,
    created_at: DateTime<Utc>,
}

/// The wire fields of [`NewUser`].
#[derive(Serialize, Deserialize)]
#[serde(remote = "NewUser")]
pub(super) struct NewUserWire {
    id: Uuid,
    email: String,
    name: String,
    password_hash: String,
    created_at: DateTime<Utc>,
}

/// The wire fields of [`NewSession`].
#[derive(Serialize, Deserialize)]
#[serde(remote = "NewSession")]
pub(super) struct NewSessionWire {
    token_hash: Vec<u8>,
    user_id: Uuid,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// The wire fields of [`ThrottleLimits`]; chrono's durations have no serde
/// form, so they travel as microseconds.
#[derive(Serialize, Deserialize)]
#[serde(remote = "ThrottleLimits")]
pub(super) struct ThrottleLimitsWire {
    #[serde(with = "micros")]
    window: chrono::Duration,
    max_failures: u32,
    #[serde(with = "micros")]
    lock: chrono::Duration,
}

/// A duration as whole microseconds (the throttle's limits are whole
/// seconds, far inside the range).
mod micros {
    use super::{Deserialize, Deserializer, Serializer};

    /// Writes `duration` in microseconds.
    pub(super) fn serialize<S: Serializer>(
        duration: &chrono::Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(duration.num_microseconds().unwrap_or(i64::MAX))
    }

    /// Reads a duration in microseconds.
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<chrono::Duration, D::Error> {
        i64::deserialize(deserializer).map(chrono::Duration::microseconds)
    }
}
