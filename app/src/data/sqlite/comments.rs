//! Comments on SQLite.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::SqlitePool;
use uuid::Uuid;

use super::SqliteStore;
use super::codec::{CommentRow, id, ts};
use super::writes::Write;
use crate::data::common::{COMMENT_SELECT, page};
use crate::data::rules::{found, limit_offset};
use crate::data::{
    Comment, CommentRepository, DataError, DataResult, NewComment, Page, PageRequest,
};

/// One comment by id.
async fn comment(pool: &SqlitePool, comment: Uuid) -> DataResult<Option<Comment>> {
    let row: Option<CommentRow> = sqlx::query_as(&format!("{COMMENT_SELECT} WHERE c.id = ?"))
        .bind(id(comment))
        .fetch_optional(pool)
        .await?;
    row.map(CommentRow::into_comment).transpose()
}

#[async_trait]
impl CommentRepository for SqliteStore {
    async fn create(&self, new: NewComment) -> DataResult<Comment> {
        self.submit(Write::CreateComment(new)).await
    }

    async fn by_id(&self, id: Uuid) -> DataResult<Option<Comment>> {
        comment(&self.pool, id).await
    }

    async fn list(&self, post: Uuid, request: PageRequest) -> DataResult<Page<Comment>> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM comments WHERE post_id = ?")
            .bind(id(post))
            .fetch_one(&self.pool)
            .await?;
        let (limit, offset) = limit_offset(request);
        let rows: Vec<CommentRow> = sqlx::query_as(&format!(
            "{COMMENT_SELECT} WHERE c.post_id = ? \
             ORDER BY c.created_at ASC, c.id ASC LIMIT ? OFFSET ?"
        ))
        .bind(id(post))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        page(rows, total, CommentRow::into_comment)
    }

    async fn delete(&self, comment: Uuid) -> DataResult<()> {
        self.submit(Write::DeleteComment(comment)).await
    }
}

/// Adds a comment to a published post.
pub(super) fn create(conn: &Connection, new: NewComment) -> DataResult<Comment> {
    // The post's status is read under the write lock the transaction
    // took, so a post switched to draft before this never gets the
    // comment. A missing author is a foreign-key violation: `NotFound`.
    let inserted = conn
        .prepare_cached(
            "INSERT INTO comments (id, post_id, author_id, content, created_at) \
             SELECT ?, id, ?, ?, ? FROM posts WHERE id = ? AND status = 'published'",
        )?
        .execute(params![
            id(new.id),
            id(new.author_id),
            new.content,
            ts(new.created_at),
            id(new.post_id),
        ])?;
    found(inserted as u64)?;
    let row = conn
        .prepare_cached(&format!("{COMMENT_SELECT} WHERE c.id = ?"))?
        .query_row([id(new.id)], CommentRow::read)
        .optional()?
        .ok_or(DataError::NotFound)?;
    row.into_comment()
}

/// Deletes a comment.
pub(super) fn delete(conn: &Connection, comment: Uuid) -> DataResult<()> {
    let deleted = conn
        .prepare_cached("DELETE FROM comments WHERE id = ?")?
        .execute([id(comment)])?;
    found(deleted as u64)?;
    Ok(())
}
