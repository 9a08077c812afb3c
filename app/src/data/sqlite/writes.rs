//! Every write the SQLite store makes, as data.
//!
//! A write is a value rather than a closure so that it can travel: a
//! process that is not the file's writer host ([`super::host`]) sends it to
//! the host over a Unix socket and the host's writer runs it, where the
//! same value runs on the local writer otherwise. Either way [`Write::run`]
//! is the one place that maps a write to the code that does it.

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::wire::{NewSessionWire, NewUserWire, ThrottleLimitsWire, UserWire};
use super::writer::{Moves, Writer};
use super::{auth, comments, posts, social, users};
use crate::data::{
    Comment, DataResult, NewComment, NewPost, NewSession, NewUser, Post, PostChange, Role,
    ThrottleLimits, User,
};

/// One write, with everything it needs.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum Write {
    /// Registers a user.
    CreateUser(#[serde(with = "NewUserWire")] NewUser),
    /// Changes the role of the user with this email key.
    SetRole {
        /// The normalised email.
        email_key: String,
        /// The new role.
        role: Role,
    },
    /// Stores a session (and sweeps expired ones).
    CreateSession(#[serde(with = "NewSessionWire")] NewSession),
    /// Deletes the session with this token hash.
    RevokeSession(Vec<u8>),
    /// Counts a login attempt against the throttle.
    ReserveLogin {
        /// The throttle key.
        key: String,
        /// When the attempt came.
        now: DateTime<Utc>,
        /// The throttle's limits.
        #[serde(with = "ThrottleLimitsWire")]
        limits: ThrottleLimits,
    },
    /// Records a failed login.
    RecordLoginFailure {
        /// The throttle key.
        key: String,
        /// When it failed.
        now: DateTime<Utc>,
        /// The throttle's limits.
        #[serde(with = "ThrottleLimitsWire")]
        limits: ThrottleLimits,
    },
    /// Clears the throttle of a key after a successful login.
    LoginSucceeded {
        /// The throttle key.
        key: String,
        /// When the login succeeded.
        now: DateTime<Utc>,
    },
    /// Creates a post.
    CreatePost(NewPost),
    /// Changes a post.
    UpdatePost(Uuid, PostChange),
    /// Deletes a post.
    DeletePost(Uuid),
    /// Adds a comment.
    CreateComment(NewComment),
    /// Deletes a comment.
    DeleteComment(Uuid),
    /// `follower` follows `author`.
    Follow {
        /// Who follows.
        follower: Uuid,
        /// Whom.
        author: Uuid,
    },
    /// `follower` stops following `author`.
    Unfollow {
        /// Who stops.
        follower: Uuid,
        /// Whom.
        author: Uuid,
    },
    /// Marks every notification of a user read.
    MarkAllRead(Uuid),
}

/// What a write returned.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum Written {
    /// A user as stored.
    User(#[serde(with = "UserWire")] User),
    /// A post as stored.
    Post(Post),
    /// A comment as stored.
    Comment(Comment),
    /// Nothing to return.
    Done,
    /// Whether a session was there to revoke.
    Revoked(bool),
    /// Until when the throttle refuses the key, if it does.
    LockedUntil(Option<DateTime<Utc>>),
}

impl Write {
    /// Which counters its commit must move: the content generation for
    /// posts, tags and comments; the sessions' counter for what changes
    /// the answer of a session check already made (a revoked session, a
    /// changed role; a new session or user changes no earlier answer).
    fn moves(&self) -> Moves {
        Moves {
            content: matches!(
                self,
                Self::CreatePost(_)
                    | Self::UpdatePost(..)
                    | Self::DeletePost(_)
                    | Self::CreateComment(_)
                    | Self::DeleteComment(_)
            ),
            sessions: matches!(self, Self::RevokeSession(_) | Self::SetRole { .. }),
        }
    }

    /// Runs the write in `writer`'s next transaction; what it returned
    /// once that committed.
    pub(super) async fn run_on(self, writer: &Writer) -> DataResult<Written> {
        let moves = self.moves();
        writer.write(moves, move |conn| self.run(conn)).await
    }

    /// Does the write on `conn`, inside the writer's transaction.
    fn run(self, conn: &Connection) -> DataResult<Written> {
        Ok(match self {
            Self::CreateUser(new) => Written::User(users::create(conn, new)?),
            Self::SetRole { email_key, role } => {
                Written::User(users::set_role(conn, &email_key, role)?)
            }
            Self::CreateSession(session) => {
                auth::create_session(conn, session)?;
                Written::Done
            }
            Self::RevokeSession(token_hash) => Written::Revoked(auth::revoke(conn, &token_hash)?),
            Self::ReserveLogin { key, now, limits } => {
                Written::LockedUntil(auth::reserve(conn, &key, now, limits)?)
            }
            Self::RecordLoginFailure { key, now, limits } => {
                Written::LockedUntil(auth::record_failure(conn, &key, now, limits)?)
            }
            Self::LoginSucceeded { key, now } => {
                Written::LockedUntil(auth::succeed(conn, &key, now)?)
            }
            Self::CreatePost(new) => Written::Post(posts::create(conn, new)?),
            Self::UpdatePost(post, change) => Written::Post(posts::update(conn, post, change)?),
            Self::DeletePost(post) => {
                posts::delete(conn, post)?;
                Written::Done
            }
            Self::CreateComment(new) => Written::Comment(comments::create(conn, new)?),
            Self::DeleteComment(comment) => {
                comments::delete(conn, comment)?;
                Written::Done
            }
            Self::Follow { follower, author } => {
                social::follow(conn, follower, author)?;
                Written::Done
            }
            Self::Unfollow { follower, author } => {
                social::unfollow(conn, follower, author)?;
                Written::Done
            }
            Self::MarkAllRead(user) => {
                social::mark_all_read(conn, user)?;
                Written::Done
            }
        })
    }
}

/// A result type a write can return, taken out of [`Written`].
pub(super) trait Answer: Sized {
    /// The value, when `written` holds this type.
    fn from_written(written: Written) -> Option<Self>;
}

/// Implements [`Answer`] for the type a [`Written`] variant holds.
macro_rules! answer {
    ($type:ty, $pattern:pat => $value:expr) => {
        impl Answer for $type {
            fn from_written(written: Written) -> Option<Self> {
                match written {
                    $pattern => Some($value),
                    _ => None,
                }
            }
        }
    };
}

answer!(User, Written::User(user) => user);
answer!(Post, Written::Post(post) => post);
answer!(Comment, Written::Comment(comment) => comment);
answer!((), Written::Done => ());
answer!(bool, Written::Revoked(revoked) => revoked);
answer!(Option<DateTime<Utc>>, Written::LockedUntil(until) => until);
