//! Follows and the notifications they lead to, on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use super::PgStore;
use crate::data::common::page;
use crate::data::rules::limit_offset;
use crate::data::{
    AuthorRef, DataResult, FollowRepository, Notification, NotificationRepository, Page,
    PageRequest,
};

#[async_trait]
impl FollowRepository for PgStore {
    async fn follow(&self, follower: Uuid, author: Uuid) -> DataResult<()> {
        sqlx::query(
            "INSERT INTO follows (follower_id, author_id) VALUES ($1, $2) \
             ON CONFLICT (follower_id, author_id) DO NOTHING",
        )
        .bind(follower)
        .bind(author)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn unfollow(&self, follower: Uuid, author: Uuid) -> DataResult<()> {
        sqlx::query("DELETE FROM follows WHERE follower_id = $1 AND author_id = $2")
            .bind(follower)
            .bind(author)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// A notification joined with its post and the post's author.
#[derive(FromRow)]
struct NotificationRow {
    id: Uuid,
    post_id: Uuid,
    post_slug: String,
    post_title: String,
    author_id: Uuid,
    author_name: String,
    created_at: DateTime<Utc>,
    is_read: bool,
}

impl From<NotificationRow> for Notification {
    fn from(row: NotificationRow) -> Self {
        Self {
            id: row.id,
            post_id: row.post_id,
            post_slug: row.post_slug,
            post_title: row.post_title,
            author: AuthorRef {
                id: row.author_id,
                name: row.author_name,
            },
            created_at: row.created_at,
            read: row.is_read,
        }
    }
}

#[async_trait]
impl NotificationRepository for PgStore {
    async fn list(&self, user: Uuid, request: PageRequest) -> DataResult<Page<Notification>> {
        self.read(move |pool| Box::pin(notifications(pool, user, request)))
            .await
    }

    async fn mark_all_read(&self, user: Uuid) -> DataResult<()> {
        sqlx::query("UPDATE notifications SET is_read = TRUE WHERE user_id = $1 AND NOT is_read")
            .bind(user)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// A page of a user's notifications of published posts, newest first, and
/// their total.
async fn notifications(
    pool: &PgPool,
    user: Uuid,
    request: PageRequest,
) -> DataResult<Page<Notification>> {
    let total: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM notifications n JOIN posts p ON p.id = n.post_id \
         WHERE n.user_id = $1 AND p.status = 'published'",
    )
    .bind(user)
    .fetch_one(pool)
    .await?;
    let (limit, offset) = limit_offset(request);
    let rows: Vec<NotificationRow> = sqlx::query_as(
        "SELECT n.id, n.post_id, p.slug AS post_slug, p.title AS post_title, \
           n.author_id, a.name AS author_name, n.created_at, n.is_read \
         FROM notifications n \
           JOIN posts p ON p.id = n.post_id JOIN users a ON a.id = n.author_id \
         WHERE n.user_id = $1 AND p.status = 'published' \
         ORDER BY n.created_at DESC, n.id DESC LIMIT $2 OFFSET $3",
    )
    .bind(user)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    page(rows, total, |row| Ok(Notification::from(row)))
}
