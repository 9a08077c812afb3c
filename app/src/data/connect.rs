//! Opening the database named by a URL, on the backend its scheme names.

use std::sync::Arc;
use std::time::Duration;

use super::{
    CommentRepository, ContentGeneration, DataError, DataResult, Database, FollowRepository,
    LoginThrottleRepository, NotificationRepository, PostRepository, Repositories,
    SessionRepository, UserRepository, postgres, sqlite,
};

/// How long a request waits for a pooled connection, on either backend,
/// before it fails as unavailable (503). sqlx's default is 30 s, which
/// would hold every client of a saturated pool (or of an unreachable
/// PostgreSQL server, which the pool keeps trying to reach for this long)
/// for that long; once connections free up or the server is back, the
/// next request gets one.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Opens a pool on the database named by `url` and returns its
/// repositories: `sqlite:` (the file and its folder are created when
/// missing, e.g. `sqlite://data/app.db`), or `postgres:`/`postgresql:`.
/// Does not migrate: call [`Database::migrate`] for that.
pub async fn connect(url: &str) -> DataResult<Repositories> {
    let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => sqlite::connect(url).await,
        "postgres" | "postgresql" => postgres::connect(url).await,
        _ => Err(DataError::UnsupportedScheme {
            scheme: scheme.to_owned(),
        }),
    }
}

/// Every repository trait, so one store type can serve them all.
pub(crate) trait Store:
    Database
    + UserRepository
    + SessionRepository
    + LoginThrottleRepository
    + PostRepository
    + CommentRepository
    + FollowRepository
    + NotificationRepository
    + 'static
{
}

impl<T> Store for T where
    T: Database
        + UserRepository
        + SessionRepository
        + LoginThrottleRepository
        + PostRepository
        + CommentRepository
        + FollowRepository
        + NotificationRepository
        + 'static
{
}

/// Hands one backend's store out as every repository, with its content
/// generation.
pub(crate) fn repositories(
    store: Arc<impl Store>,
    generation: Arc<dyn ContentGeneration>,
) -> Repositories {
    Repositories {
        database: store.clone(),
        users: store.clone(),
        sessions: store.clone(),
        login_throttle: store.clone(),
        posts: store.clone(),
        comments: store.clone(),
        follows: store.clone(),
        notifications: store,
        generation,
    }
}
