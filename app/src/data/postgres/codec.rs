//! The rows PostgreSQL returns, read into records.

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::data::common::{PostParts, read_status};
use crate::data::{AuthorRef, Comment, DataResult, Role, User};

/// A row of `users` (or `u.*` of a join).
#[derive(FromRow)]
pub(super) struct UserRow {
    id: Uuid,
    email: String,
    name: String,
    password_hash: String,
    role: String,
    created_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            email: row.email,
            name: row.name,
            password_hash: row.password_hash,
            role: Role::from_stored(&row.role),
            created_at: row.created_at,
        }
    }
}

/// A post as [`super::reads::post_select`] reads it; `content` is the whole
/// body or, for summaries, its first characters.
#[derive(FromRow)]
pub(super) struct PostRow {
    id: Uuid,
    slug: String,
    title: String,
    content: String,
    status: String,
    tags: Vec<String>,
    author_id: Uuid,
    author_name: String,
    comment_count: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    published_at: Option<DateTime<Utc>>,
    version: i64,
}

impl PostRow {
    /// Every column decoded.
    pub(super) fn parts(self) -> DataResult<PostParts> {
        Ok(PostParts {
            status: read_status(&self.status)?,
            id: self.id,
            slug: self.slug,
            title: self.title,
            content: self.content,
            tags: self.tags,
            author: AuthorRef {
                id: self.author_id,
                name: self.author_name,
            },
            comment_count: self.comment_count,
            created_at: self.created_at,
            updated_at: self.updated_at,
            published_at: self.published_at,
            version: self.version,
        })
    }
}

/// A comment joined with its author's name.
#[derive(FromRow)]
pub(super) struct CommentRow {
    id: Uuid,
    post_id: Uuid,
    content: String,
    author_id: Uuid,
    author_name: String,
    created_at: DateTime<Utc>,
}

impl From<CommentRow> for Comment {
    fn from(row: CommentRow) -> Self {
        Self {
            id: row.id,
            post_id: row.post_id,
            content: row.content,
            author: AuthorRef {
                id: row.author_id,
                name: row.author_name,
            },
            created_at: row.created_at,
        }
    }
}
