//! Writing posts on SQLite: slugs, tags, versions and the notifications
//! publishing creates, each write one unit of work for the writer.

use async_trait::async_trait;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use uuid::Uuid;

use super::SqliteStore;
use super::codec::{id, read_id, ts};
use super::reads::{self, PostKey};
use crate::data::rules::{
    SLUG_ATTEMPTS, check_version, found, free_slug, suffix_range, unique_tags,
};
use crate::data::{
    DataError, DataResult, NewPost, Page, Post, PostChange, PostQuery, PostRepository, PostStatus,
    PostSummary, TagCount,
};

#[async_trait]
impl PostRepository for SqliteStore {
    async fn create(&self, new: NewPost) -> DataResult<Post> {
        self.write_content(move |conn| Box::pin(create(conn, new)))
            .await
    }

    async fn by_id(&self, post: Uuid) -> DataResult<Option<Post>> {
        reads::post(&self.pool, PostKey::Id(post)).await
    }

    async fn by_slug(&self, slug: &str) -> DataResult<Option<Post>> {
        reads::post(&self.pool, PostKey::Slug(slug)).await
    }

    async fn list(&self, query: &PostQuery) -> DataResult<Page<PostSummary>> {
        reads::list(&self.pool, query).await
    }

    async fn update(&self, post: Uuid, change: PostChange) -> DataResult<Post> {
        self.write_content(move |conn| Box::pin(update(conn, post, change)))
            .await
    }

    async fn delete(&self, post: Uuid) -> DataResult<()> {
        self.write_content(move |conn| Box::pin(delete(conn, post)))
            .await
    }

    async fn tag_counts(&self) -> DataResult<Vec<TagCount>> {
        reads::tag_counts(&self.pool).await
    }
}

/// Inserts a post with its tags, notifies the author's followers when it
/// is published, and returns it as stored.
async fn create(conn: &mut SqliteConnection, new: NewPost) -> DataResult<Post> {
    insert_with_free_slug(conn, &new).await?;
    // A new post has no tags to replace: one statement fewer per write.
    insert_tags(conn, new.id, &new.tags).await?;
    if new.status == PostStatus::Published {
        notify_followers(conn, new.id, new.author_id, &ts(new.created_at)).await?;
    }
    reads::post(&mut *conn, PostKey::Id(new.id))
        .await?
        .ok_or(DataError::NotFound)
}

/// Applies `change` to a post if it is still at the version the caller
/// read; notifies followers the first time it is published.
async fn update(conn: &mut SqliteConnection, post: Uuid, change: PostChange) -> DataResult<Post> {
    let current = sqlx::query("SELECT version, published_at, author_id FROM posts WHERE id = ?")
        .bind(id(post))
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(DataError::NotFound)?;
    let version: i64 = current.try_get("version")?;
    check_version(change.expected_version, version)?;
    let never_published = current
        .try_get::<Option<String>, _>("published_at")?
        .is_none();
    let author: String = current.try_get("author_id")?;
    let author = read_id("posts.author_id", &author)?;
    sqlx::query(
        "UPDATE posts SET title = COALESCE(?, title), content = COALESCE(?, content), \
         status = COALESCE(?, status), version = version + 1, updated_at = ?, \
         published_at = COALESCE(published_at, ?) WHERE id = ?",
    )
    .bind(change.title)
    .bind(change.content)
    .bind(change.status.map(PostStatus::as_str))
    .bind(ts(change.now))
    .bind(change.first_publish.map(ts))
    .bind(id(post))
    .execute(&mut *conn)
    .await?;
    if let Some(tags) = &change.tags {
        replace_tags(conn, post, tags).await?;
    }
    if let Some(published) = change.first_publish.filter(|_| never_published) {
        notify_followers(conn, post, author, &ts(published)).await?;
    }
    reads::post(&mut *conn, PostKey::Id(post))
        .await?
        .ok_or(DataError::NotFound)
}

/// Deletes a post; its tags, comments and notifications go with it
/// (`ON DELETE CASCADE`).
async fn delete(conn: &mut SqliteConnection, post: Uuid) -> DataResult<()> {
    let done = sqlx::query("DELETE FROM posts WHERE id = ?")
        .bind(id(post))
        .execute(&mut *conn)
        .await?;
    found(done.rows_affected())?;
    Ok(())
}

/// Inserts the post under the first free slug among `slug_base`,
/// `slug_base-2`, ...; a slug taken meanwhile makes it pick again.
async fn insert_with_free_slug(conn: &mut SqliteConnection, new: &NewPost) -> DataResult<()> {
    let (from, to) = suffix_range(&new.slug_base);
    let created = ts(new.created_at);
    let published = (new.status == PostStatus::Published).then(|| created.clone());
    for _ in 0..SLUG_ATTEMPTS {
        let taken: Vec<String> =
            sqlx::query_scalar("SELECT slug FROM posts WHERE slug = ? OR (slug > ? AND slug < ?)")
                .bind(&new.slug_base)
                .bind(&from)
                .bind(&to)
                .fetch_all(&mut *conn)
                .await?;
        let inserted = sqlx::query(
            "INSERT INTO posts (id, slug, title, content, status, author_id, version, \
               created_at, updated_at, published_at) \
             VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?) ON CONFLICT (slug) DO NOTHING",
        )
        .bind(id(new.id))
        .bind(free_slug(&new.slug_base, &taken))
        .bind(&new.title)
        .bind(&new.content)
        .bind(new.status.as_str())
        .bind(id(new.author_id))
        .bind(&created)
        .bind(&created)
        .bind(&published)
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

/// Sets a post's tags to `tags`, in their order.
async fn replace_tags(conn: &mut SqliteConnection, post: Uuid, tags: &[String]) -> DataResult<()> {
    sqlx::query("DELETE FROM post_tags WHERE post_id = ?")
        .bind(id(post))
        .execute(&mut *conn)
        .await?;
    insert_tags(conn, post, tags).await
}

/// Gives a post that has none the tags `tags`, in their order, in one
/// insert.
async fn insert_tags(conn: &mut SqliteConnection, post: Uuid, tags: &[String]) -> DataResult<()> {
    let post = id(post);
    let tags = unique_tags(tags);
    if tags.is_empty() {
        return Ok(());
    }
    QueryBuilder::<Sqlite>::new("INSERT INTO post_tags (post_id, tag, position) ")
        .push_values((0_i64..).zip(tags), |mut row, (position, tag)| {
            row.push_bind(&post).push_bind(tag).push_bind(position);
        })
        .build()
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Followers notified per insert, well under SQLite's limit of bound values.
const NOTIFY_BATCH: usize = 1000;

/// One `post.published` notification per follower of `author`, a batch of
/// followers per insert; a follower already notified of this post is not
/// notified again.
async fn notify_followers(
    conn: &mut SqliteConnection,
    post: Uuid,
    author: Uuid,
    at: &str,
) -> DataResult<()> {
    let (post, author) = (id(post), id(author));
    let followers: Vec<String> =
        sqlx::query_scalar("SELECT follower_id FROM follows WHERE author_id = ?")
            .bind(&author)
            .fetch_all(&mut *conn)
            .await?;
    for batch in followers.chunks(NOTIFY_BATCH) {
        QueryBuilder::<Sqlite>::new(
            "INSERT INTO notifications (id, user_id, post_id, author_id, created_at) ",
        )
        .push_values(batch, |mut row, follower| {
            row.push_bind(id(Uuid::now_v7()))
                .push_bind(follower)
                .push_bind(&post)
                .push_bind(&author)
                .push_bind(at);
        })
        .push(" ON CONFLICT (user_id, post_id) DO NOTHING")
        .build()
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
