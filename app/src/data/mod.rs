//! The data layer: what is stored, behind repository traits with one
//! implementation per backend (`sqlite`, `postgres`), and the migrations.
//!
//! The business layer sees only these traits and records; which backend
//! serves them is chosen once, in the composition root, from `DATABASE_URL`.
//! Every write that must be atomic with another (publishing a post and
//! notifying followers, deleting a post and its comments) is one method here,
//! run in one transaction by the backend.

mod circuit;
mod common;
mod connect;
mod error;
mod generation;
mod guard;
pub mod models;
mod postgres;
mod rules;
mod sqlite;
mod throttle;

pub use connect::{
    DEFAULT_REPLICA_MAX_LAG, DEFAULT_SLOW_STATEMENT, DbOptions, PoolSizes, Timeouts, connect,
    connect_with, open,
};
pub use error::CircuitOpen;
pub(crate) use error::{error_chain, unreachable};
pub use generation::{ContentGeneration, Generation};
pub use models::*;
pub use rules::{EXCERPT_CHARS, excerpt};

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Why a repository call failed, in the terms the business layer acts on.
/// Backend errors are kept as the source for logs, never shown to clients.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A unique constraint refused the write (e.g. an email already taken).
    #[error("conflict on {constraint}")]
    Conflict {
        /// The unique key that collided, e.g. `users.email`.
        constraint: &'static str,
    },
    /// The row to change does not exist (any more).
    #[error("not found")]
    NotFound,
    /// The row changed since the caller read it (optimistic concurrency).
    #[error("the row changed since it was read")]
    VersionMismatch,
    /// `DATABASE_URL` names a backend this build does not have.
    #[error(
        "unsupported database URL scheme `{scheme}`: use `sqlite://path/to/file.db` or `postgres://user@host/db`"
    )]
    UnsupportedScheme {
        /// What came before the first `:` (empty when there was none).
        scheme: String,
    },
    /// Read replicas were given for a SQLite database, which has none.
    #[error("read replicas need a PostgreSQL primary: a SQLite file has no replicas")]
    ReplicasNeedPostgres,
    /// The database could not be reached or answered with an error.
    #[error("the database is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Short alias used by every repository method.
pub type DataResult<T> = Result<T, DataError>;

/// Users and their roles.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Inserts a user; `Conflict { constraint: "users.email" }` when the
    /// email (compared case-insensitively) is taken.
    async fn create(&self, new: NewUser) -> DataResult<User>;
    /// A user by id.
    async fn by_id(&self, id: Uuid) -> DataResult<Option<User>>;
    /// A user by email, case-insensitively.
    async fn by_email(&self, email: &str) -> DataResult<Option<User>>;
    /// Sets the role of the user with this email; `NotFound` if none.
    async fn set_role(&self, email: &str, role: Role) -> DataResult<User>;
    /// The public profile: user plus published post and follower counts.
    async fn profile(&self, id: Uuid) -> DataResult<Option<Profile>>;
}

/// Bearer sessions. Tokens are stored only as hashes; deleting the row
/// revokes the token for every worker that shares the database at once.
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores a new session.
    async fn create(&self, session: NewSession) -> DataResult<()>;
    /// The user of an unexpired session with this token hash.
    async fn user_for(&self, token_hash: &[u8], now: DateTime<Utc>) -> DataResult<Option<User>>;
    /// Deletes the session; true if it existed.
    async fn revoke(&self, token_hash: &[u8]) -> DataResult<bool>;
}

/// Failed-login counting per account, shared by every worker through the
/// database so throttling cannot be dodged by landing on another process.
/// Each call is one locking transaction on the key's record.
#[async_trait]
pub trait LoginThrottleRepository: Send + Sync {
    /// Counts an attempt of `key` before its password is checked (as a
    /// failure, until [`succeed`](Self::succeed) takes it back), so that
    /// parallel attempts cannot all pass. Returns the lock's end when the
    /// attempt is refused: the key is locked, or `max_failures` attempts are
    /// already counted within the window, which locks it now.
    async fn reserve(
        &self,
        key: &str,
        now: DateTime<Utc>,
        limits: ThrottleLimits,
    ) -> DataResult<Option<DateTime<Utc>>>;
    /// A reserved attempt had a wrong password. Returns the lock's end when
    /// this failure locked the key (it was the `max_failures`-th).
    async fn record_failure(
        &self,
        key: &str,
        now: DateTime<Utc>,
        limits: ThrottleLimits,
    ) -> DataResult<Option<DateTime<Utc>>>;
    /// A reserved attempt had the right password: forgets the count, unless
    /// the key was locked meanwhile; then the lock stays and its end is
    /// returned, and the login must be refused.
    async fn succeed(&self, key: &str, now: DateTime<Utc>) -> DataResult<Option<DateTime<Utc>>>;
}

/// Posts, their tags, and the notifications publishing creates.
#[async_trait]
pub trait PostRepository: Send + Sync {
    /// Inserts a post. The slug is `new.slug_base`, or `slug_base-2`,
    /// `-3`, ... when taken. When `new.status` is published, one
    /// `post.published` notification per follower of the author is created
    /// in the same transaction.
    async fn create(&self, new: NewPost) -> DataResult<Post>;
    /// A post by id.
    async fn by_id(&self, id: Uuid) -> DataResult<Option<Post>>;
    /// A post by slug.
    async fn by_slug(&self, slug: &str) -> DataResult<Option<Post>>;
    /// Summaries matching `query`, newest first, with the total count.
    async fn list(&self, query: &PostQuery) -> DataResult<Page<PostSummary>>;
    /// Applies `change` if the stored version is `change.expected_version`
    /// (else `VersionMismatch`; any version when it is `None`), under the
    /// row's lock; bumps the version and `updated_at`. When
    /// `change.first_publish` is set, also sets `published_at` and notifies
    /// the author's followers, in the same transaction.
    async fn update(&self, id: Uuid, change: PostChange) -> DataResult<Post>;
    /// Deletes the post and its comments and notifications; `NotFound` if none.
    async fn delete(&self, id: Uuid) -> DataResult<()>;
    /// Tags over published posts with their counts, most used first (ties by name).
    async fn tag_counts(&self) -> DataResult<Vec<TagCount>>;
}

/// Comments on posts.
#[async_trait]
pub trait CommentRepository: Send + Sync {
    /// Inserts a comment; `NotFound` unless the post exists and is
    /// published, checked in the insert's own transaction so a post
    /// switched to draft at the same moment never receives it.
    async fn create(&self, new: NewComment) -> DataResult<Comment>;
    /// A comment by id.
    async fn by_id(&self, id: Uuid) -> DataResult<Option<Comment>>;
    /// A post's comments, oldest first.
    async fn list(&self, post_id: Uuid, page: PageRequest) -> DataResult<Page<Comment>>;
    /// Deletes a comment; `NotFound` if none.
    async fn delete(&self, id: Uuid) -> DataResult<()>;
}

/// Who follows whom.
#[async_trait]
pub trait FollowRepository: Send + Sync {
    /// `follower` follows `author`; following twice is not an error.
    async fn follow(&self, follower: Uuid, author: Uuid) -> DataResult<()>;
    /// Stops following; not following is not an error.
    async fn unfollow(&self, follower: Uuid, author: Uuid) -> DataResult<()>;
}

/// A user's notifications.
#[async_trait]
pub trait NotificationRepository: Send + Sync {
    /// Newest first, only those whose post is published now: a post taken
    /// back to draft must not show its title or slug to followers.
    async fn list(&self, user_id: Uuid, page: PageRequest) -> DataResult<Page<Notification>>;
    /// Marks every notification of the user read.
    async fn mark_all_read(&self, user_id: Uuid) -> DataResult<()>;
}

/// The database as a whole, for health checks and start-up.
#[async_trait]
pub trait Database: Send + Sync {
    /// Runs the pending migrations; safe when several workers start at once.
    async fn migrate(&self) -> DataResult<()>;
    /// A trivial round trip, for `/health`.
    async fn ping(&self) -> DataResult<()>;
    /// Which backend this is (`sqlite` or `postgres`), for logs and health.
    fn backend(&self) -> &'static str;
    /// Connections in use and idle, for `/metrics`.
    fn pool_usage(&self) -> PoolUsage;
    /// The read replicas and whether each serves reads now, for `/health`;
    /// empty without replicas.
    fn replicas(&self) -> Vec<ReplicaHealth> {
        Vec::new()
    }
    /// Waits for the connections in use to come back, then closes them
    /// all; every later call fails. The last step of a worker's drain, so
    /// SQLite checkpoints its WAL and PostgreSQL sees clean disconnects.
    async fn close(&self);
}

/// One read replica as `/health` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaHealth {
    /// Its URL, the password masked.
    pub name: String,
    /// Whether reads may go to it: it answers, is a replica, and lags no
    /// more than the bound.
    pub usable: bool,
    /// How far behind the primary it is, when known.
    pub lag: Option<std::time::Duration>,
}

/// Every repository of one backend, as the composition root hands them to
/// the business layer.
#[derive(Clone)]
pub struct Repositories {
    /// The database itself.
    pub database: Arc<dyn Database>,
    /// Users.
    pub users: Arc<dyn UserRepository>,
    /// Sessions.
    pub sessions: Arc<dyn SessionRepository>,
    /// Failed-login throttling.
    pub login_throttle: Arc<dyn LoginThrottleRepository>,
    /// Posts and tags.
    pub posts: Arc<dyn PostRepository>,
    /// Comments.
    pub comments: Arc<dyn CommentRepository>,
    /// Follows.
    pub follows: Arc<dyn FollowRepository>,
    /// Notifications.
    pub notifications: Arc<dyn NotificationRepository>,
    /// What cached reads of posts, tags and comments are keyed by.
    pub generation: Arc<dyn ContentGeneration>,
}
