//! The API's routes, one module per area.

mod accounts;
mod posts;
mod social;

use axum::Router;
use axum::routing::{delete, get, post};

use crate::presentation::AppState;

/// Every `/api` route.
pub(crate) fn api() -> Router<AppState> {
    Router::new()
        .route("/api/auth/register", post(accounts::register))
        .route("/api/auth/login", post(accounts::login))
        .route("/api/auth/logout", post(accounts::logout))
        .route("/api/users/me", get(accounts::me))
        .route("/api/users/{id}", get(accounts::profile))
        .route(
            "/api/users/{id}/follow",
            post(accounts::follow).delete(accounts::unfollow),
        )
        .route("/api/notifications", get(social::notifications))
        .route("/api/notifications/read", post(social::read_notifications))
        .route("/api/posts", get(posts::list).post(posts::create))
        .route(
            "/api/posts/{id}",
            get(posts::show).patch(posts::update).delete(posts::remove),
        )
        .route(
            "/api/posts/{id}/comments",
            get(social::comments).post(social::comment),
        )
        .route("/api/comments/{id}", delete(social::delete_comment))
        .route("/api/tags", get(social::tags))
}
