//! What a service call can fail with, in domain terms. The presentation
//! layer maps each variant to one HTTP status; nothing here knows HTTP.

use std::time::Duration;

use crate::data::{CircuitOpen, DataError, DataResult};

/// A rule one input field broke, reported back to the client by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The request field, as the client spelled it (camelCase).
    pub field: String,
    /// What is wrong and what would be accepted.
    pub message: String,
}

impl FieldError {
    /// A field error; `field` is the client's name for the field.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Why a service refused or failed a request.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input is well-formed but breaks rules; every broken rule is listed.
    #[error("the input breaks {} rule(s)", .0.len())]
    Validation(Vec<FieldError>),
    /// Login with an unknown email or a wrong password (deliberately the same).
    #[error("wrong email or password")]
    InvalidCredentials,
    /// A bearer token that is unknown, expired or revoked.
    #[error("the token is unknown, expired or revoked")]
    InvalidToken,
    /// The caller may see the resource but not do this to it.
    #[error("not allowed")]
    Forbidden,
    /// No such resource, or one the caller may not see.
    #[error("not found")]
    NotFound,
    /// A unique value is taken; names the field (e.g. `email`).
    #[error("{field} is already taken")]
    Conflict {
        /// The client's name of the field that collided.
        field: &'static str,
    },
    /// The resource changed since the version the caller named.
    #[error("the resource changed since it was read")]
    PreconditionFailed,
    /// Too many failed logins for this account; try again after the delay.
    #[error("too many failed logins, retry in {retry_after:?}")]
    TooManyAttempts {
        /// How long until logins are accepted again.
        retry_after: Duration,
    },
    /// Too many requests compete for a scarce resource (password-hashing
    /// slots) to serve this one soon; try again after the delay.
    #[error("too busy, retry in {retry_after:?}")]
    Busy {
        /// When trying again is likely to succeed.
        retry_after: Duration,
    },
    /// A dependency (database, hashing pool) failed; the source is for logs.
    #[error("unavailable while {during}")]
    Unavailable {
        /// What the service was doing, e.g. `loading the post`.
        during: &'static str,
        /// The underlying failure.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ServiceError {
    /// A validation failure of a single field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// How long the client should wait before trying again, when the
    /// failure knows: the throttle's or the hashing slots' delay, or the
    /// time until the database's open circuit lets a call through.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::TooManyAttempts { retry_after } | Self::Busy { retry_after } => {
                Some(*retry_after)
            }
            Self::Unavailable { source, .. } => source
                .downcast_ref::<CircuitOpen>()
                .map(|open| open.retry_after),
            _ => None,
        }
    }

    /// Whether this failure is the database's open circuit refusing the
    /// call: expected while the database is down, and logged once by the
    /// circuit rather than once per request.
    pub fn refused_by_circuit(&self) -> bool {
        matches!(self, Self::Unavailable { source, .. } if source.is::<CircuitOpen>())
    }
}

/// The business result alias.
pub type ServiceResult<T> = Result<T, ServiceError>;

/// Turns repository failures into service errors, naming what was being done
/// so the log line of an outage says where it happened.
pub(crate) trait DataContext<T> {
    /// Maps the error; `during` reads like "loading the post".
    fn during(self, during: &'static str) -> ServiceResult<T>;
}

impl<T> DataContext<T> for DataResult<T> {
    fn during(self, during: &'static str) -> ServiceResult<T> {
        self.map_err(|error| match error {
            DataError::NotFound => ServiceError::NotFound,
            DataError::VersionMismatch => ServiceError::PreconditionFailed,
            DataError::Conflict { constraint } => ServiceError::Conflict {
                field: constraint.rsplit('.').next().unwrap_or(constraint),
            },
            DataError::Unavailable(source) => ServiceError::Unavailable { during, source },
            // Only `connect` returns it, before any service exists.
            unsupported @ (DataError::UnsupportedScheme { .. }
            | DataError::ReplicasNeedPostgres) => ServiceError::Unavailable {
                during,
                source: Box::new(unsupported),
            },
        })
    }
}

/// Collects field errors so a client learns every broken rule at once.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<FieldError>);

impl Problems {
    /// Records the error of `result`, if any, and passes its value on.
    pub(crate) fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        result.map_err(|error| self.0.push(error)).ok()
    }

    /// `Ok` when nothing was recorded, else every recorded error.
    pub(crate) fn finish(self) -> ServiceResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::Validation(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_errors_keep_their_meaning() {
        let conflict: DataResult<()> = Err(DataError::Conflict {
            constraint: "users.email",
        });
        assert!(matches!(
            conflict.during("registering"),
            Err(ServiceError::Conflict { field: "email" })
        ));
        let stale: DataResult<()> = Err(DataError::VersionMismatch);
        assert!(matches!(
            stale.during("updating"),
            Err(ServiceError::PreconditionFailed)
        ));
    }

    #[test]
    fn problems_collect_every_error() {
        let mut problems = Problems::default();
        assert_eq!(problems.check::<u8>(Ok(1)), Some(1));
        problems.check::<u8>(Err(FieldError::new("a", "bad")));
        problems.check::<u8>(Err(FieldError::new("b", "bad")));
        match problems.finish() {
            Err(ServiceError::Validation(errors)) => assert_eq!(errors.len(), 2),
            other => panic!("expected validation errors, got {other:?}"),
        }
    }
}
