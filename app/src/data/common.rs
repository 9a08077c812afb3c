//! What both backends share besides the rules: SQL text that is the same
//! in both dialects, and assembling records and pages from rows whose
//! columns each backend has already decoded.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::CorruptValue;
use super::rules::{count, excerpt};
use super::{AuthorRef, DataResult, Page, Post, PostStatus, PostSummary, TagCount};

/// The columns of a user row, for statements on `users` alone.
pub(crate) const USER_COLUMNS: &str = "id, email, name, password_hash, role, created_at";

/// The `SELECT` every comment read starts with.
pub(crate) const COMMENT_SELECT: &str = "SELECT c.id, c.post_id, c.content, c.author_id, \
     a.name AS author_name, c.created_at \
     FROM comments c JOIN users a ON a.id = c.author_id";

/// Tags of published posts with their counts, most used first, ties by name.
pub(crate) const TAG_COUNTS: &str = "SELECT t.tag, COUNT(*) AS posts FROM post_tags t \
     JOIN posts p ON p.id = t.post_id WHERE p.status = 'published' \
     GROUP BY t.tag ORDER BY posts DESC, t.tag ASC";

/// A stored post status.
pub(crate) fn read_status(text: &str) -> DataResult<PostStatus> {
    PostStatus::parse(text).ok_or_else(|| CorruptValue::error("posts.status", text))
}

/// A post row with every column decoded; `content` is the whole body or,
/// for summaries, its first characters.
pub(crate) struct PostParts {
    /// `posts.id`.
    pub(crate) id: Uuid,
    /// `posts.slug`.
    pub(crate) slug: String,
    /// `posts.title`.
    pub(crate) title: String,
    /// The body, or its first characters.
    pub(crate) content: String,
    /// `posts.status`.
    pub(crate) status: PostStatus,
    /// The tags, in their order.
    pub(crate) tags: Vec<String>,
    /// The author.
    pub(crate) author: AuthorRef,
    /// Comments on it, as counted.
    pub(crate) comment_count: i64,
    /// `posts.created_at`.
    pub(crate) created_at: DateTime<Utc>,
    /// `posts.updated_at`.
    pub(crate) updated_at: DateTime<Utc>,
    /// `posts.published_at`.
    pub(crate) published_at: Option<DateTime<Utc>>,
    /// `posts.version`.
    pub(crate) version: i64,
}

impl PostParts {
    /// The full record (read with the whole content).
    pub(crate) fn into_post(self) -> Post {
        Post {
            id: self.id,
            slug: self.slug,
            title: self.title,
            content: self.content,
            status: self.status,
            tags: self.tags,
            author: self.author,
            comment_count: count(self.comment_count),
            created_at: self.created_at,
            updated_at: self.updated_at,
            published_at: self.published_at,
            version: self.version,
        }
    }

    /// The list record (read with the content's first characters).
    pub(crate) fn into_summary(self) -> PostSummary {
        PostSummary {
            excerpt: excerpt(&self.content),
            id: self.id,
            slug: self.slug,
            title: self.title,
            status: self.status,
            tags: self.tags,
            author: self.author,
            comment_count: count(self.comment_count),
            created_at: self.created_at,
            updated_at: self.updated_at,
            published_at: self.published_at,
        }
    }
}

/// A page from its rows, each made a record by `record`, and the stored total.
pub(crate) fn page<R, T>(
    rows: Vec<R>,
    total: i64,
    record: impl FnMut(R) -> DataResult<T>,
) -> DataResult<Page<T>> {
    Ok(Page {
        items: rows.into_iter().map(record).collect::<DataResult<_>>()?,
        total: count(total),
    })
}

/// Tag counts from `(tag, posts)` rows of [`TAG_COUNTS`].
pub(crate) fn tag_counts(rows: Vec<(String, i64)>) -> Vec<TagCount> {
    rows.into_iter()
        .map(|(name, posts)| TagCount {
            name,
            post_count: count(posts),
        })
        .collect()
}
