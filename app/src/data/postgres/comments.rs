//! Comments on PostgreSQL.

use async_trait::async_trait;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use super::codec::CommentRow;
use super::{PgStore, bump_generation};
use crate::data::common::{COMMENT_SELECT, page};
use crate::data::rules::{found, limit_offset, micros};
use crate::data::{
    Comment, CommentRepository, DataError, DataResult, NewComment, Page, PageRequest,
};

/// One comment by id.
async fn comment<'c>(conn: impl PgExecutor<'c>, id: Uuid) -> DataResult<Option<Comment>> {
    let row: Option<CommentRow> = sqlx::query_as(&format!("{COMMENT_SELECT} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(Comment::from))
}

#[async_trait]
impl CommentRepository for PgStore {
    async fn create(&self, new: NewComment) -> DataResult<Comment> {
        self.write(move |conn| Box::pin(create(conn, new))).await
    }

    async fn by_id(&self, id: Uuid) -> DataResult<Option<Comment>> {
        self.read(move |pool| Box::pin(comment(pool, id))).await
    }

    async fn list(&self, post: Uuid, request: PageRequest) -> DataResult<Page<Comment>> {
        self.read(move |pool| Box::pin(list(pool, post, request)))
            .await
    }

    async fn delete(&self, id: Uuid) -> DataResult<()> {
        self.write(move |conn| Box::pin(delete(conn, id))).await
    }
}

/// A page of a post's comments, oldest first, and their total.
async fn list(pool: &PgPool, post: Uuid, request: PageRequest) -> DataResult<Page<Comment>> {
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM comments WHERE post_id = $1")
        .bind(post)
        .fetch_one(pool)
        .await?;
    let (limit, offset) = limit_offset(request);
    let rows: Vec<CommentRow> = sqlx::query_as(&format!(
        "{COMMENT_SELECT} WHERE c.post_id = $1 \
         ORDER BY c.created_at ASC, c.id ASC LIMIT $2 OFFSET $3"
    ))
    .bind(post)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    page(rows, total, |row| Ok(Comment::from(row)))
}

/// Adds a comment to a published post.
async fn create(conn: &mut PgConnection, new: NewComment) -> DataResult<Comment> {
    // `FOR SHARE` waits for a concurrent change of the post and reads its
    // status as committed, so a post switched to draft never gets the
    // comment (and the switch waits for this insert instead). A missing
    // author is a foreign-key violation: `NotFound`.
    let inserted = sqlx::query(
        "INSERT INTO comments (id, post_id, author_id, content, created_at) \
         SELECT $1, id, $3, $4, $5 FROM posts \
         WHERE id = $2 AND status = 'published' FOR SHARE",
    )
    .bind(new.id)
    .bind(new.post_id)
    .bind(new.author_id)
    .bind(&new.content)
    .bind(micros(new.created_at))
    .execute(&mut *conn)
    .await?;
    found(inserted.rows_affected())?;
    let comment = comment(&mut *conn, new.id)
        .await?
        .ok_or(DataError::NotFound)?;
    bump_generation(conn).await?;
    Ok(comment)
}

/// Deletes a comment.
async fn delete(conn: &mut PgConnection, id: Uuid) -> DataResult<()> {
    let done = sqlx::query("DELETE FROM comments WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    found(done.rows_affected())?;
    bump_generation(conn).await
}
