//! Registration, login, logout, the caller, profiles and follows.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::business::parse_id;
use crate::presentation::AppState;
use crate::presentation::auth::{Authenticated, viewer};
use crate::presentation::conditional;
use crate::presentation::envelope::{Data, created};
use crate::presentation::error::ApiError;
use crate::presentation::extract::ApiJson;
use crate::presentation::requests::{LoginRequest, RegisterRequest};
use crate::presentation::views::{PublicProfileView, SessionView, UserView};

/// `POST /api/auth/register` → 201 with the new user and its `Location`.
pub(crate) async fn register(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<Response, ApiError> {
    let user = state.services().auth.register(request.into()).await?;
    let location = format!("/api/users/{}", user.id);
    Ok(created(Some(location), UserView::from(user)))
}

/// `POST /api/auth/login` → 200 with a token, never cached by anyone.
pub(crate) async fn login(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let session = state
        .services()
        .auth
        .login(&request.email, request.password)
        .await?;
    let body = Json(Data {
        data: SessionView::from(session),
    });
    Ok(([(CACHE_CONTROL, "no-store")], body).into_response())
}

/// `POST /api/auth/logout` → 204; the token stops working everywhere.
pub(crate) async fn logout(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<StatusCode, ApiError> {
    state.services().auth.logout(&caller.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/users/me` → the caller with email and role, with an ETag.
pub(crate) async fn me(headers: HeaderMap, caller: Authenticated) -> Response {
    conditional::single(&headers, UserView::from(caller.user), None)
}

/// `GET /api/users/{id}` → the public profile (email for self or admin).
pub(crate) async fn profile(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Option<Authenticated>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let profile = state
        .services()
        .users
        .profile(viewer(caller.as_ref()), id)
        .await?;
    Ok(conditional::single(
        &headers,
        PublicProfileView::from(profile),
        None,
    ))
}

/// `POST /api/users/{id}/follow` → 204.
pub(crate) async fn follow(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Authenticated,
) -> Result<StatusCode, ApiError> {
    state
        .services()
        .users
        .follow(caller.viewer(), parse_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/users/{id}/follow` → 204.
pub(crate) async fn unfollow(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Authenticated,
) -> Result<StatusCode, ApiError> {
    state
        .services()
        .users
        .unfollow(caller.viewer(), parse_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
