//! `ApiError`: every failure as an RFC 9457 `application/problem+json`
//! response, and the mapping from [`ServiceError`].
//!
//! Internal failures are logged here (inside the request's span, so the
//! log line carries the request id) and answered without any detail: no
//! SQL, no error chain, no stack trace ever reaches a client.

use std::time::Duration;

use axum::http::header::{CONNECTION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::business::{FieldError, ServiceError};
use crate::data::error_chain;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// What a 503 asks a client to wait when its cause names no time (a
/// dependency that failed, `/health` failing): the database circuit's open
/// interval, after which the database is tried again.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The `Retry-After` of a wait of `wait` (else [`DEFAULT_RETRY_AFTER`]):
/// whole seconds, rounded up and at least 1, since the header takes no
/// fractions and 0 would invite an instant retry. Every `Retry-After` the
/// app sends is made here; [`ensure_retry_after`] puts one on any 503
/// that has none.
pub fn retry_after(wait: Option<Duration>) -> HeaderValue {
    let wait = wait.unwrap_or(DEFAULT_RETRY_AFTER);
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    HeaderValue::from(seconds.max(1))
}

/// Gives a 503 without `Retry-After` the default one: called by the edge
/// on every response, so no 503 path (a failing `/health`, a layer's own
/// 503) can leave clients without the hint.
pub fn ensure_retry_after(headers: &mut HeaderMap, status: StatusCode) {
    if status == StatusCode::SERVICE_UNAVAILABLE && !headers.contains_key(RETRY_AFTER) {
        headers.insert(RETRY_AFTER, retry_after(None));
    }
}

/// An error response: status, a human `detail`, field errors for 422, and
/// the headers the status calls for (`WWW-Authenticate`, `Retry-After`, `Allow`).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: Option<String>,
    errors: Vec<FieldError>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    /// An error of `status` with a detail for the client.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: Some(detail.into()),
            errors: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// A bare error of `status`: the standard title, no detail.
    pub fn bare(status: StatusCode) -> Self {
        Self {
            status,
            detail: None,
            errors: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// 422 with one field error.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ServiceError::invalid(field, message).into()
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// 401 for a request without usable credentials.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "This needs a bearer token: log in and send `Authorization: Bearer <token>`.",
        )
        .with_header(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    }

    /// 405. axum's method router adds the `Allow` header on the way out.
    pub fn method_not_allowed() -> Self {
        let detail =
            "This resource does not accept this method; the `Allow` header lists those it does.";
        Self::new(StatusCode::METHOD_NOT_ALLOWED, detail)
    }

    /// 408 for a request whose body came too slowly. It carries
    /// `Connection: close`: the rest of the body may still be on its way,
    /// so the connection cannot carry another request.
    pub fn request_timeout() -> Self {
        let detail = "The request body arrived too slowly; send it again at a steadier pace.";
        Self::new(StatusCode::REQUEST_TIMEOUT, detail)
            .with_header(CONNECTION, HeaderValue::from_static("close"))
    }

    /// The status of this error.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    r#type: &'static str,
    title: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: Vec<ProblemField<'a>>,
}

#[derive(Serialize)]
struct ProblemField<'a> {
    field: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            r#type: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: self.detail.as_deref(),
            errors: self
                .errors
                .iter()
                .map(|e| ProblemField {
                    field: &e.field,
                    message: &e.message,
                })
                .collect(),
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        (self.status, headers, body).into_response()
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Validation(errors) => {
                let detail = format!("The request breaks {} rule(s); see `errors`.", errors.len());
                Self {
                    errors,
                    ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
                }
            }
            ServiceError::InvalidCredentials => {
                Self::new(StatusCode::UNAUTHORIZED, "Wrong email or password.")
                    .with_header(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
            }
            ServiceError::InvalidToken => Self::new(
                StatusCode::UNAUTHORIZED,
                "The bearer token is unknown, expired or revoked; log in again.",
            )
            .with_header(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            ),
            ServiceError::Forbidden => Self::new(
                StatusCode::FORBIDDEN,
                "You may not do this to this resource.",
            ),
            ServiceError::NotFound => Self::new(StatusCode::NOT_FOUND, "There is nothing here."),
            ServiceError::Conflict { field } => Self::new(StatusCode::CONFLICT, conflict(field)),
            ServiceError::PreconditionFailed => Self::new(
                StatusCode::PRECONDITION_FAILED,
                "The resource changed since you read it: fetch it again and retry with its new ETag.",
            ),
            ServiceError::TooManyAttempts { retry_after: wait } => {
                let seconds = retry_after(Some(wait));
                Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "Too many failed logins; try again in {} s.",
                        as_text(&seconds)
                    ),
                )
                .with_header(RETRY_AFTER, seconds)
            }
            ServiceError::Busy { retry_after: wait } => {
                let seconds = retry_after(Some(wait));
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("The server is busy; try again in {} s.", as_text(&seconds)),
                )
                .with_header(RETRY_AFTER, seconds)
            }
            error @ ServiceError::Unavailable { .. } => {
                if error.refused_by_circuit() {
                    tracing::debug!(error = %error_chain(&error), "refused while the database is unreachable");
                } else {
                    tracing::error!(error = %error_chain(&error), "request failed on a dependency");
                }
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The service is temporarily unavailable; try again shortly.",
                )
                .with_header(RETRY_AFTER, retry_after(error.retry_after()))
            }
        }
    }
}

/// A header value made by [`retry_after`] (always ASCII digits) as text.
fn as_text(value: &HeaderValue) -> &str {
    value.to_str().unwrap_or_default()
}

/// The detail of a 409. Only an email is the client's to change; any other
/// unique key (a slug, after its suffixes all lost races; an id) is ours,
/// so naming it would only confuse, and trying again is the advice.
fn conflict(field: &str) -> &'static str {
    match field {
        "email" => "That email is already registered.",
        _ => "The request conflicts with a concurrent change; try again.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_is_503_with_retry_after() {
        let busy = ServiceError::Busy {
            retry_after: std::time::Duration::from_secs(5),
        };
        let response = ApiError::from(busy).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "5");
        assert_eq!(response.headers()[CONTENT_TYPE], PROBLEM_JSON);
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        let header = |wait| retry_after(wait).to_str().unwrap().to_owned();
        assert_eq!(header(None), "1");
        assert_eq!(header(Some(Duration::ZERO)), "1");
        assert_eq!(header(Some(Duration::from_millis(1))), "1");
        assert_eq!(header(Some(Duration::from_millis(1001))), "2");
        assert_eq!(header(Some(Duration::from_secs(30))), "30");
    }

    #[test]
    fn an_open_circuit_says_when_to_come_back() {
        let refused = ServiceError::Unavailable {
            during: "loading the post",
            source: Box::new(crate::data::CircuitOpen {
                retry_after: Duration::from_millis(2500),
            }),
        };
        let response = ApiError::from(refused).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "3");
    }

    #[test]
    fn conflicts_name_only_the_email() {
        let detail = |field| ApiError::from(ServiceError::Conflict { field }).detail;
        assert_eq!(
            detail("email").as_deref(),
            Some("That email is already registered.")
        );
        for field in ["slug", "unknown", "id"] {
            let other = detail(field).unwrap();
            assert!(
                !other.contains(field) && other.contains("try again"),
                "{other}"
            );
        }
    }
}
