//! How SQLite stores ids and times, and the rows read back into records.
//!
//! sqlx would store a `Uuid` as a blob and a time with a variable number of
//! digits and a `+00:00` offset; text in one fixed format keeps the file
//! readable with the `sqlite3` shell and makes text order time order.

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::data::common::{PostParts, read_status};
use crate::data::error::CorruptValue;
use crate::data::rules::micros;
use crate::data::{AuthorRef, Comment, DataResult, Role, User};

/// RFC 3339 in UTC with exactly six fractional digits.
const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

/// A time as stored.
pub(super) fn ts(time: DateTime<Utc>) -> String {
    micros(time).format(TIME_FORMAT).to_string()
}

/// A stored time.
pub(super) fn read_ts(column: &'static str, text: &str) -> DataResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| CorruptValue::error(column, text))
}

/// An id as stored.
pub(super) fn id(id: Uuid) -> String {
    id.hyphenated().to_string()
}

/// A stored id.
pub(super) fn read_id(column: &'static str, text: &str) -> DataResult<Uuid> {
    Uuid::parse_str(text).map_err(|_| CorruptValue::error(column, text))
}

/// A row of `users` (or `u.*` of a join).
#[derive(FromRow)]
pub(super) struct UserRow {
    id: String,
    email: String,
    name: String,
    password_hash: String,
    role: String,
    created_at: String,
}

impl UserRow {
    /// A row the writer read (its columns named as in [`USER_COLUMNS`]).
    ///
    /// [`USER_COLUMNS`]: crate::data::common::USER_COLUMNS
    pub(super) fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get("id")?,
            email: row.get("email")?,
            name: row.get("name")?,
            password_hash: row.get("password_hash")?,
            role: row.get("role")?,
            created_at: row.get("created_at")?,
        })
    }

    /// The record.
    pub(super) fn into_user(self) -> DataResult<User> {
        Ok(User {
            id: read_id("users.id", &self.id)?,
            email: self.email,
            name: self.name,
            password_hash: self.password_hash,
            role: Role::from_stored(&self.role),
            created_at: read_ts("users.created_at", &self.created_at)?,
        })
    }
}

/// A post as [`super::reads::post_select`] reads it; `content` is the whole
/// body or, for summaries, its first characters.
#[derive(FromRow)]
pub(super) struct PostRow {
    id: String,
    slug: String,
    title: String,
    content: String,
    status: String,
    tags: String,
    author_id: String,
    author_name: String,
    comment_count: i64,
    created_at: String,
    updated_at: String,
    published_at: Option<String>,
    version: i64,
}

impl PostRow {
    /// A row the writer read back with [`super::reads::post_select`].
    pub(super) fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get("id")?,
            slug: row.get("slug")?,
            title: row.get("title")?,
            content: row.get("content")?,
            status: row.get("status")?,
            tags: row.get("tags")?,
            author_id: row.get("author_id")?,
            author_name: row.get("author_name")?,
            comment_count: row.get("comment_count")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
            published_at: row.get("published_at")?,
            version: row.get("version")?,
        })
    }

    /// Every column decoded.
    pub(super) fn parts(self) -> DataResult<PostParts> {
        let tags = serde_json::from_str(&self.tags)
            .map_err(|_| CorruptValue::error("post_tags.tag", &self.tags))?;
        Ok(PostParts {
            id: read_id("posts.id", &self.id)?,
            slug: self.slug,
            title: self.title,
            content: self.content,
            status: read_status(&self.status)?,
            tags,
            author: AuthorRef {
                id: read_id("posts.author_id", &self.author_id)?,
                name: self.author_name,
            },
            comment_count: self.comment_count,
            created_at: read_ts("posts.created_at", &self.created_at)?,
            updated_at: read_ts("posts.updated_at", &self.updated_at)?,
            published_at: self
                .published_at
                .map(|text| read_ts("posts.published_at", &text))
                .transpose()?,
            version: self.version,
        })
    }
}

/// A comment joined with its author's name.
#[derive(FromRow)]
pub(super) struct CommentRow {
    id: String,
    post_id: String,
    content: String,
    author_id: String,
    author_name: String,
    created_at: String,
}

impl CommentRow {
    /// A row the writer read back with [`COMMENT_SELECT`].
    ///
    /// [`COMMENT_SELECT`]: crate::data::common::COMMENT_SELECT
    pub(super) fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get("id")?,
            post_id: row.get("post_id")?,
            content: row.get("content")?,
            author_id: row.get("author_id")?,
            author_name: row.get("author_name")?,
            created_at: row.get("created_at")?,
        })
    }

    /// The record.
    pub(super) fn into_comment(self) -> DataResult<Comment> {
        Ok(Comment {
            id: read_id("comments.id", &self.id)?,
            post_id: read_id("comments.post_id", &self.post_id)?,
            content: self.content,
            author: AuthorRef {
                id: read_id("comments.author_id", &self.author_id)?,
                name: self.author_name,
            },
            created_at: read_ts("comments.created_at", &self.created_at)?,
        })
    }
}
