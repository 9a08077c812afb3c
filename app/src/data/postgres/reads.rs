//! Reading posts on PostgreSQL: single posts, filtered pages, tag counts.

use sqlx::{PgExecutor, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::codec::PostRow;
use crate::data::common::{self, PostParts};
use crate::data::rules::{EXCERPT_CHARS, like_contains, limit_offset};
use crate::data::{DataResult, Page, Post, PostQuery, PostSummary, TagCount};

/// The `SELECT ... FROM posts p` every post read starts with; `content` is
/// the SQL for the body column (whole, or a prefix for summaries).
fn post_select(content: &str) -> String {
    format!(
        "SELECT p.id, p.slug, p.title, {content} AS content, p.status, \
           ARRAY(SELECT t.tag FROM post_tags t WHERE t.post_id = p.id \
                 ORDER BY t.position) AS tags, \
           p.author_id, a.name AS author_name, \
           (SELECT COUNT(*) FROM comments c WHERE c.post_id = p.id) AS comment_count, \
           p.created_at, p.updated_at, p.published_at, p.version \
         FROM posts p JOIN users a ON a.id = p.author_id"
    )
}

/// Which column a single post is looked up by.
#[derive(Clone, Copy)]
pub(super) enum PostKey<'a> {
    /// Its id.
    Id(Uuid),
    /// Its slug.
    Slug(&'a str),
}

/// One post, whole.
pub(super) async fn post<'c>(
    conn: impl PgExecutor<'c>,
    key: PostKey<'_>,
) -> DataResult<Option<Post>> {
    let mut sql = QueryBuilder::new(post_select("p.content"));
    match key {
        PostKey::Id(id) => sql.push(" WHERE p.id = ").push_bind(id),
        PostKey::Slug(slug) => sql.push(" WHERE p.slug = ").push_bind(slug),
    };
    let row: Option<PostRow> = sql.build_query_as().fetch_optional(conn).await?;
    Ok(row
        .map(PostRow::parts)
        .transpose()?
        .map(PostParts::into_post))
}

/// Appends the `WHERE` clause selecting the posts `query` asks for.
fn push_filters(sql: &mut QueryBuilder<'_, Postgres>, query: &PostQuery) {
    sql.push(" WHERE TRUE");
    if !query.all_drafts {
        match query.drafts_of {
            Some(viewer) => {
                sql.push(" AND (p.status = 'published' OR p.author_id = ")
                    .push_bind(viewer)
                    .push(")");
            }
            None => {
                sql.push(" AND p.status = 'published'");
            }
        }
    }
    if let Some(status) = query.status {
        sql.push(" AND p.status = ").push_bind(status.as_str());
    }
    if let Some(author) = query.author {
        sql.push(" AND p.author_id = ").push_bind(author);
    }
    if let Some(tag) = &query.tag {
        sql.push(" AND EXISTS (SELECT 1 FROM post_tags t WHERE t.post_id = p.id AND t.tag = ")
            .push_bind(tag.clone())
            .push(")");
    }
    if let Some(search) = &query.search {
        let pattern = like_contains(search);
        sql.push(" AND (p.title ILIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR p.content ILIKE ")
            .push_bind(pattern)
            .push(" ESCAPE '\\')");
    }
}

/// A page of summaries matching `query`, newest first, and their total.
pub(super) async fn list(pool: &PgPool, query: &PostQuery) -> DataResult<Page<PostSummary>> {
    let mut total = QueryBuilder::new("SELECT COUNT(*) FROM posts p");
    push_filters(&mut total, query);
    let total: i64 = total.build_query_scalar().fetch_one(pool).await?;

    let (limit, offset) = limit_offset(query.page);
    let prefix = format!("left(p.content, {})", EXCERPT_CHARS + 1);
    let mut page = QueryBuilder::new(post_select(&prefix));
    push_filters(&mut page, query);
    page.push(" ORDER BY p.created_at DESC, p.id DESC LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let rows: Vec<PostRow> = page.build_query_as().fetch_all(pool).await?;
    common::page(rows, total, |row| Ok(row.parts()?.into_summary()))
}

/// Tags of published posts with their counts, most used first.
pub(super) async fn tag_counts(pool: &PgPool) -> DataResult<Vec<TagCount>> {
    let rows = sqlx::query_as(common::TAG_COUNTS).fetch_all(pool).await?;
    Ok(common::tag_counts(rows))
}
