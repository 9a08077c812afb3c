//! The API's routes, one module per area.

mod accounts;
mod posts;
mod social;

use axum::Router;
use axum::routing::{MethodRouter, delete, get, post};

use crate::presentation::{AppState, openapi};

/// A route: its path template and the handlers of its methods.
pub(crate) type Route = (&'static str, MethodRouter<AppState>);

/// Every `/api` route, and the document that describes them.
pub(crate) fn api() -> Router<AppState> {
    build(table())
}

/// The routes [`api`] serves, as a list the OpenAPI tests can walk: a
/// route added here and missing from `app/openapi.json` fails them.
pub(crate) fn table() -> Vec<Route> {
    vec![
        ("/api/auth/register", post(accounts::register)),
        ("/api/auth/login", post(accounts::login)),
        ("/api/auth/logout", post(accounts::logout)),
        ("/api/users/me", get(accounts::me)),
        ("/api/users/{id}", get(accounts::profile)),
        (
            "/api/users/{id}/follow",
            post(accounts::follow).delete(accounts::unfollow),
        ),
        ("/api/notifications", get(social::notifications)),
        ("/api/notifications/read", post(social::read_notifications)),
        ("/api/posts", get(posts::list).post(posts::create)),
        (
            "/api/posts/{id}",
            get(posts::show).patch(posts::update).delete(posts::remove),
        ),
        (
            "/api/posts/{id}/comments",
            get(social::comments).post(social::comment),
        ),
        ("/api/comments/{id}", delete(social::delete_comment)),
        ("/api/tags", get(social::tags)),
        ("/openapi.json", get(openapi::document)),
    ]
}

/// A router of `routes`.
pub(crate) fn build(routes: Vec<Route>) -> Router<AppState> {
    routes
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods)
        })
}
