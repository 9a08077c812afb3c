//! Writing posts on SQLite: slugs, tags, versions and the notifications
//! publishing creates, each write one unit of work for the writer.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use super::SqliteStore;
use super::codec::{PostRow, id, read_id, ts};
use super::reads::{self, PostKey, post_select};
use super::writes::Write;
use crate::data::common::PostParts;
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
        self.submit(Write::CreatePost(new)).await
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
        self.submit(Write::UpdatePost(post, change)).await
    }

    async fn delete(&self, post: Uuid) -> DataResult<()> {
        self.submit(Write::DeletePost(post)).await
    }

    async fn tag_counts(&self) -> DataResult<Vec<TagCount>> {
        reads::tag_counts(&self.pool).await
    }
}

/// Inserts a post with its tags, notifies the author's followers when it
/// is published, and returns it as stored.
pub(super) fn create(conn: &Connection, new: NewPost) -> DataResult<Post> {
    insert_with_free_slug(conn, &new)?;
    // A new post has no tags to replace: one statement fewer per write.
    insert_tags(conn, new.id, &new.tags)?;
    if new.status == PostStatus::Published {
        notify_followers(conn, new.id, new.author_id, &ts(new.created_at))?;
    }
    written(conn, new.id)
}

/// Applies `change` to a post if it is still at the version the caller
/// read; notifies followers the first time it is published.
pub(super) fn update(conn: &Connection, post: Uuid, change: PostChange) -> DataResult<Post> {
    let (version, published_at, author): (i64, Option<String>, String) = conn
        .prepare_cached("SELECT version, published_at, author_id FROM posts WHERE id = ?")?
        .query_row([id(post)], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?
        .ok_or(DataError::NotFound)?;
    check_version(change.expected_version, version)?;
    let never_published = published_at.is_none();
    let author = read_id("posts.author_id", &author)?;
    conn.prepare_cached(
        "UPDATE posts SET title = COALESCE(?, title), content = COALESCE(?, content), \
         status = COALESCE(?, status), version = version + 1, updated_at = ?, \
         published_at = COALESCE(published_at, ?) WHERE id = ?",
    )?
    .execute(params![
        change.title,
        change.content,
        change.status.map(PostStatus::as_str),
        ts(change.now),
        change.first_publish.map(ts),
        id(post),
    ])?;
    if let Some(tags) = &change.tags {
        replace_tags(conn, post, tags)?;
    }
    if let Some(published) = change.first_publish.filter(|_| never_published) {
        notify_followers(conn, post, author, &ts(published))?;
    }
    written(conn, post)
}

/// The post as the transaction now holds it, as a read would return it.
fn written(conn: &Connection, post: Uuid) -> DataResult<Post> {
    let sql = format!("{} WHERE p.id = ?", post_select("p.content"));
    let row = conn
        .prepare_cached(&sql)?
        .query_row([id(post)], PostRow::read)
        .optional()?
        .ok_or(DataError::NotFound)?;
    row.parts().map(PostParts::into_post)
}

/// Deletes a post; its tags, comments and notifications go with it
/// (`ON DELETE CASCADE`).
pub(super) fn delete(conn: &Connection, post: Uuid) -> DataResult<()> {
    let deleted = conn
        .prepare_cached("DELETE FROM posts WHERE id = ?")?
        .execute([id(post)])?;
    found(deleted as u64)?;
    Ok(())
}

/// Inserts the post under the first free slug among `slug_base`,
/// `slug_base-2`, ...; a slug taken meanwhile makes it pick again.
fn insert_with_free_slug(conn: &Connection, new: &NewPost) -> DataResult<()> {
    let (from, to) = suffix_range(&new.slug_base);
    let created = ts(new.created_at);
    let published = (new.status == PostStatus::Published).then(|| created.clone());
    let (post, author) = (id(new.id), id(new.author_id));
    for _ in 0..SLUG_ATTEMPTS {
        let taken = conn
            .prepare_cached("SELECT slug FROM posts WHERE slug = ? OR (slug > ? AND slug < ?)")?
            .query_map(params![new.slug_base, from, to], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        let inserted = conn
            .prepare_cached(
                "INSERT INTO posts (id, slug, title, content, status, author_id, version, \
                   created_at, updated_at, published_at) \
                 VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?) ON CONFLICT (slug) DO NOTHING",
            )?
            .execute(params![
                post,
                free_slug(&new.slug_base, &taken),
                new.title,
                new.content,
                new.status.as_str(),
                author,
                created,
                created,
                published,
            ])?;
        if inserted == 1 {
            return Ok(());
        }
    }
    Err(DataError::Conflict {
        constraint: "posts.slug",
    })
}

/// Sets a post's tags to `tags`, in their order.
fn replace_tags(conn: &Connection, post: Uuid, tags: &[String]) -> DataResult<()> {
    conn.prepare_cached("DELETE FROM post_tags WHERE post_id = ?")?
        .execute([id(post)])?;
    insert_tags(conn, post, tags)
}

/// Gives a post that has none the tags `tags`, in their order, through
/// one prepared statement.
fn insert_tags(conn: &Connection, post: Uuid, tags: &[String]) -> DataResult<()> {
    let tags = unique_tags(tags);
    if tags.is_empty() {
        return Ok(());
    }
    let post = id(post);
    let mut insert =
        conn.prepare_cached("INSERT INTO post_tags (post_id, tag, position) VALUES (?, ?, ?)")?;
    for (position, tag) in (0_i64..).zip(tags) {
        insert.execute(params![post, tag, position])?;
    }
    Ok(())
}

/// One `post.published` notification per follower of `author`; a follower
/// already notified of this post is not notified again.
fn notify_followers(conn: &Connection, post: Uuid, author: Uuid, at: &str) -> DataResult<()> {
    let (post, author) = (id(post), id(author));
    let followers = conn
        .prepare_cached("SELECT follower_id FROM follows WHERE author_id = ?")?
        .query_map([&author], |row| row.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    if followers.is_empty() {
        return Ok(());
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO notifications (id, user_id, post_id, author_id, created_at) \
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, post_id) DO NOTHING",
    )?;
    for follower in followers {
        insert.execute(params![id(Uuid::now_v7()), follower, post, author, at])?;
    }
    Ok(())
}
