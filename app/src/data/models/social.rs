//! Comments and notifications.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::AuthorRef;

/// A stored comment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Comment {
    /// UUID v7.
    pub id: Uuid,
    /// The post it is on.
    pub post_id: Uuid,
    /// Body.
    pub content: String,
    /// Who wrote it.
    pub author: AuthorRef,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A comment to insert.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NewComment {
    /// UUID v7.
    pub id: Uuid,
    /// The post.
    pub post_id: Uuid,
    /// Body, already validated.
    pub content: String,
    /// Who writes it.
    pub author_id: Uuid,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A stored notification (only `post.published` exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// UUID v7.
    pub id: Uuid,
    /// The published post.
    pub post_id: Uuid,
    /// Its slug.
    pub post_slug: String,
    /// Its title.
    pub post_title: String,
    /// Who published it.
    pub author: AuthorRef,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Whether the user marked it read.
    pub read: bool,
}
