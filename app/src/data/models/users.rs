//! Users, their roles, public profiles and sessions.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// What a user may do beyond their own content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Role {
    /// The default.
    User,
    /// Sees and edits everything; made only by `app user promote`.
    Admin,
}

impl Role {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    /// Parses a stored name; unknown names are treated as the least privilege.
    pub fn from_stored(name: &str) -> Self {
        if name == "admin" {
            Self::Admin
        } else {
            Self::User
        }
    }
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// UUID v7.
    pub id: Uuid,
    /// As registered (compared case-insensitively).
    pub email: String,
    /// Display name.
    pub name: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// Its role.
    pub role: Role,
    /// When it registered.
    pub created_at: DateTime<Utc>,
}

/// A user to insert.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// UUID v7, chosen by the caller.
    pub id: Uuid,
    /// Already validated.
    pub email: String,
    /// Already validated.
    pub name: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A user's public profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The user.
    pub user: User,
    /// Published posts.
    pub post_count: u64,
    /// Followers.
    pub follower_count: u64,
}

/// A session to store.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 of the bearer token.
    pub token_hash: Vec<u8>,
    /// Whose session.
    pub user_id: Uuid,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// After this the token is refused.
    pub expires_at: DateTime<Utc>,
}

/// How the failed-login throttle counts, in the database's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimits {
    /// How far back attempts count.
    pub window: chrono::Duration,
    /// Attempts within `window`, without a success, that lock the key.
    pub max_failures: u32,
    /// How long a locked key refuses logins.
    pub lock: chrono::Duration,
}
