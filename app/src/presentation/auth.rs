//! Bearer authentication as an extractor.
//!
//! `Authenticated` requires a live session (401 otherwise);
//! `Option<Authenticated>` is the optional variant: no `Authorization`
//! header means anonymous, but a header that is present and bad is still
//! 401, so a client with an expired token learns it instead of silently
//! seeing less.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::business::{ServiceError, Viewer};
use crate::data::User;
use crate::presentation::AppState;
use crate::presentation::error::ApiError;

/// The caller of a request that carried a valid bearer token.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The caller.
    pub user: User,
    /// The token it sent (needed to revoke it on logout).
    pub token: String,
}

impl Authenticated {
    /// The caller as authorization rules see it.
    pub fn viewer(&self) -> Viewer {
        Viewer::of(&self.user)
    }
}

/// The viewer of an optionally authenticated request.
pub fn viewer(caller: Option<&Authenticated>) -> Option<Viewer> {
    caller.map(Authenticated::viewer)
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match <Self as OptionalFromRequestParts<AppState>>::from_request_parts(parts, state).await?
        {
            Some(caller) => Ok(caller),
            None => Err(ApiError::unauthenticated()),
        }
    }
}

impl OptionalFromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, ApiError> {
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            return Ok(None);
        };
        let token = header
            .to_str()
            .ok()
            .and_then(bearer_token)
            .ok_or(ServiceError::InvalidToken)?;
        let user = state.services().auth.authenticate(token).await?;
        Ok(Some(Self {
            user,
            token: token.to_owned(),
        }))
    }
}

/// The token of an `Authorization: Bearer <token>` value (scheme
/// case-insensitive, RFC 9110), or `None` for any other form.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_values() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer a b"), None);
    }
}
