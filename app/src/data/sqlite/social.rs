//! Follows and the notifications they lead to, on SQLite.

use async_trait::async_trait;
use sqlx::FromRow;
use uuid::Uuid;

use super::SqliteStore;
use super::codec::{id, read_id, read_ts};
use super::writes::Write;
use crate::data::common::page;
use crate::data::rules::limit_offset;
use crate::data::{
    AuthorRef, DataResult, FollowRepository, Notification, NotificationRepository, Page,
    PageRequest,
};
use rusqlite::Connection;

#[async_trait]
impl FollowRepository for SqliteStore {
    async fn follow(&self, follower: Uuid, author: Uuid) -> DataResult<()> {
        self.submit(Write::Follow { follower, author }).await
    }

    async fn unfollow(&self, follower: Uuid, author: Uuid) -> DataResult<()> {
        self.submit(Write::Unfollow { follower, author }).await
    }
}

/// A notification joined with its post and the post's author.
#[derive(FromRow)]
struct NotificationRow {
    id: String,
    post_id: String,
    post_slug: String,
    post_title: String,
    author_id: String,
    author_name: String,
    created_at: String,
    is_read: bool,
}

impl NotificationRow {
    /// The record.
    fn into_notification(self) -> DataResult<Notification> {
        Ok(Notification {
            id: read_id("notifications.id", &self.id)?,
            post_id: read_id("notifications.post_id", &self.post_id)?,
            post_slug: self.post_slug,
            post_title: self.post_title,
            author: AuthorRef {
                id: read_id("notifications.author_id", &self.author_id)?,
                name: self.author_name,
            },
            created_at: read_ts("notifications.created_at", &self.created_at)?,
            read: self.is_read,
        })
    }
}

#[async_trait]
impl NotificationRepository for SqliteStore {
    async fn list(&self, user: Uuid, request: PageRequest) -> DataResult<Page<Notification>> {
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM notifications n JOIN posts p ON p.id = n.post_id \
             WHERE n.user_id = ? AND p.status = 'published'",
        )
        .bind(id(user))
        .fetch_one(&self.pool)
        .await?;
        let (limit, offset) = limit_offset(request);
        let rows: Vec<NotificationRow> = sqlx::query_as(
            "SELECT n.id, n.post_id, p.slug AS post_slug, p.title AS post_title, \
               n.author_id, a.name AS author_name, n.created_at, n.is_read \
             FROM notifications n \
               JOIN posts p ON p.id = n.post_id JOIN users a ON a.id = n.author_id \
             WHERE n.user_id = ? AND p.status = 'published' \
             ORDER BY n.created_at DESC, n.id DESC LIMIT ? OFFSET ?",
        )
        .bind(id(user))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        page(rows, total, NotificationRow::into_notification)
    }

    async fn mark_all_read(&self, user: Uuid) -> DataResult<()> {
        self.submit(Write::MarkAllRead(user)).await
    }
}

/// `follower` follows `author` (again: nothing changes).
pub(super) fn follow(conn: &Connection, follower: Uuid, author: Uuid) -> DataResult<()> {
    conn.prepare_cached(
        "INSERT INTO follows (follower_id, author_id) VALUES (?, ?) \
         ON CONFLICT (follower_id, author_id) DO NOTHING",
    )?
    .execute([id(follower), id(author)])?;
    Ok(())
}

/// `follower` no longer follows `author`.
pub(super) fn unfollow(conn: &Connection, follower: Uuid, author: Uuid) -> DataResult<()> {
    conn.prepare_cached("DELETE FROM follows WHERE follower_id = ? AND author_id = ?")?
        .execute([id(follower), id(author)])?;
    Ok(())
}

/// Marks every unread notification of `user` read.
pub(super) fn mark_all_read(conn: &Connection, user: Uuid) -> DataResult<()> {
    conn.prepare_cached("UPDATE notifications SET is_read = 1 WHERE user_id = ? AND is_read = 0")?
        .execute([id(user)])?;
    Ok(())
}
