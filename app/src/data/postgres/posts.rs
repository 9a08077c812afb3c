//! Writing posts on PostgreSQL: slugs, tags, versions and the notifications
//! publishing creates, each write in one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::reads::{self, PostKey};
use super::{PgStore, bump_generation};
use crate::data::rules::{
    SLUG_ATTEMPTS, check_version, found, free_slug, micros, suffix_range, unique_tags,
};
use crate::data::{
    DataError, DataResult, NewPost, Page, Post, PostChange, PostQuery, PostRepository, PostStatus,
    PostSummary, TagCount,
};

#[async_trait]
impl PostRepository for PgStore {
    async fn create(&self, new: NewPost) -> DataResult<Post> {
        self.write(move |conn| Box::pin(create(conn, new))).await
    }

    async fn by_id(&self, id: Uuid) -> DataResult<Option<Post>> {
        self.read(move |pool| Box::pin(reads::post(pool, PostKey::Id(id))))
            .await
    }

    async fn by_slug(&self, slug: &str) -> DataResult<Option<Post>> {
        let slug = slug.to_owned();
        self.read(move |pool| {
            let slug = slug.clone();
            Box::pin(async move { reads::post(pool, PostKey::Slug(&slug)).await })
        })
        .await
    }

    async fn list(&self, query: &PostQuery) -> DataResult<Page<PostSummary>> {
        let query = query.clone();
        self.read(move |pool| {
            let query = query.clone();
            Box::pin(async move { reads::list(pool, &query).await })
        })
        .await
    }

    async fn update(&self, id: Uuid, change: PostChange) -> DataResult<Post> {
        self.write(move |conn| Box::pin(update(conn, id, change)))
            .await
    }

    async fn delete(&self, id: Uuid) -> DataResult<()> {
        self.write(move |conn| Box::pin(delete(conn, id))).await
    }

    async fn tag_counts(&self) -> DataResult<Vec<TagCount>> {
        self.read(|pool| Box::pin(reads::tag_counts(pool))).await
    }
}

/// Inserts a post with its tags, notifies the author's followers when it
/// is published, and returns it as stored.
async fn create(conn: &mut PgConnection, new: NewPost) -> DataResult<Post> {
    insert_with_free_slug(conn, &new).await?;
    replace_tags(conn, new.id, &new.tags).await?;
    if new.status == PostStatus::Published {
        notify_followers(conn, new.id, new.author_id, new.created_at).await?;
    }
    let post = reads::post(&mut *conn, PostKey::Id(new.id))
        .await?
        .ok_or(DataError::NotFound)?;
    bump_generation(conn).await?;
    Ok(post)
}

/// Applies `change` to a post if it is still at the version the caller
/// read (the row locked meanwhile); notifies followers the first time it
/// is published.
async fn update(conn: &mut PgConnection, id: Uuid, change: PostChange) -> DataResult<Post> {
    let current =
        sqlx::query("SELECT version, published_at, author_id FROM posts WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(DataError::NotFound)?;
    let version: i64 = current.try_get("version")?;
    check_version(change.expected_version, version)?;
    let published_at: Option<DateTime<Utc>> = current.try_get("published_at")?;
    let author: Uuid = current.try_get("author_id")?;
    sqlx::query(
        "UPDATE posts SET title = COALESCE($2, title), content = COALESCE($3, content), \
         status = COALESCE($4, status), version = version + 1, updated_at = $5, \
         published_at = COALESCE(published_at, $6) WHERE id = $1",
    )
    .bind(id)
    .bind(change.title)
    .bind(change.content)
    .bind(change.status.map(PostStatus::as_str))
    .bind(micros(change.now))
    .bind(change.first_publish.map(micros))
    .execute(&mut *conn)
    .await?;
    if let Some(tags) = &change.tags {
        replace_tags(conn, id, tags).await?;
    }
    if let Some(at) = change.first_publish.filter(|_| published_at.is_none()) {
        notify_followers(conn, id, author, at).await?;
    }
    let post = reads::post(&mut *conn, PostKey::Id(id))
        .await?
        .ok_or(DataError::NotFound)?;
    bump_generation(conn).await?;
    Ok(post)
}

/// Deletes a post; its tags, comments and notifications go with it
/// (`ON DELETE CASCADE`).
async fn delete(conn: &mut PgConnection, id: Uuid) -> DataResult<()> {
    let done = sqlx::query("DELETE FROM posts WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    found(done.rows_affected())?;
    bump_generation(conn).await
}

/// The class of the advisory locks that serialise slug choice (the
/// two-key lock space, apart from sqlx's one-key migration lock).
const SLUG_LOCK_CLASS: i32 = 0x5106;

/// Inserts the post under the first free slug among `slug_base`,
/// `slug_base-2`, ...
///
/// Transactions choosing a slug from the same base take turns on an
/// advisory lock held until commit: without it, concurrent writers would
/// all see the same slug free, and all but one would have to pick again,
/// over and over under load. The `ON CONFLICT` retry stays as a safety net.
async fn insert_with_free_slug(conn: &mut PgConnection, new: &NewPost) -> DataResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(SLUG_LOCK_CLASS)
        .bind(slug_lock_key(&new.slug_base))
        .execute(&mut *conn)
        .await?;
    let (from, to) = suffix_range(&new.slug_base);
    let created = micros(new.created_at);
    let published = (new.status == PostStatus::Published).then_some(created);
    for _ in 0..SLUG_ATTEMPTS {
        let taken: Vec<String> = sqlx::query_scalar(
            "SELECT slug FROM posts WHERE slug = $1 OR (slug > $2 AND slug < $3)",
        )
        .bind(&new.slug_base)
        .bind(&from)
        .bind(&to)
        .fetch_all(&mut *conn)
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO posts (id, slug, title, content, status, author_id, version, \
               created_at, updated_at, published_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7, $8) ON CONFLICT (slug) DO NOTHING",
        )
        .bind(new.id)
        .bind(free_slug(&new.slug_base, &taken))
        .bind(&new.title)
        .bind(&new.content)
        .bind(new.status.as_str())
        .bind(new.author_id)
        .bind(created)
        .bind(published)
        .execute(&mut *conn)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(());
        }
    }
    Err(DataError::Conflict {
        constraint: "posts.slug",
    })
}

/// A slug base's advisory-lock key (FNV-1a); bases that share a key only
/// take turns needlessly.
fn slug_lock_key(base: &str) -> i32 {
    let hash = base.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    i32::from_ne_bytes(hash.to_ne_bytes())
}

/// Sets a post's tags to `tags`, in their order.
async fn replace_tags(conn: &mut PgConnection, post: Uuid, tags: &[String]) -> DataResult<()> {
    sqlx::query("DELETE FROM post_tags WHERE post_id = $1")
        .bind(post)
        .execute(&mut *conn)
        .await?;
    let tags = unique_tags(tags);
    if tags.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO post_tags (post_id, tag, position) \
         SELECT $1, tag, position - 1 FROM UNNEST($2::text[]) WITH ORDINALITY AS t(tag, position)",
    )
    .bind(post)
    .bind(&tags)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One `post.published` notification per follower of `author`, in one
/// insert (none without followers); a follower already notified of this
/// post is not notified again.
async fn notify_followers(
    conn: &mut PgConnection,
    post: Uuid,
    author: Uuid,
    at: DateTime<Utc>,
) -> DataResult<()> {
    let followers: Vec<Uuid> =
        sqlx::query_scalar("SELECT follower_id FROM follows WHERE author_id = $1")
            .bind(author)
            .fetch_all(&mut *conn)
            .await?;
    if followers.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = followers.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "INSERT INTO notifications (id, user_id, post_id, author_id, created_at) \
         SELECT n.id, n.user_id, $3, $4, $5 FROM UNNEST($1::uuid[], $2::uuid[]) AS n(id, user_id) \
         ON CONFLICT (user_id, post_id) DO NOTHING",
    )
    .bind(&ids)
    .bind(&followers)
    .bind(post)
    .bind(author)
    .bind(micros(at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}
