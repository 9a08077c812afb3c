//! Reading posts on SQLite: single posts, filtered pages, tag counts.

use sqlx::{QueryBuilder, Sqlite, SqliteExecutor};

use super::codec::{PostRow, id};
use crate::data::common::{self, PostParts};
use crate::data::rules::{EXCERPT_CHARS, like_contains, limit_offset};
use crate::data::{DataResult, Page, Post, PostQuery, PostSummary, TagCount};

/// The `SELECT ... FROM posts p` every post read starts with; `content` is
/// the SQL for the body column (whole, or a prefix for summaries).
pub(super) fn post_select(content: &str) -> String {
    format!(
        "SELECT p.id, p.slug, p.title, {content} AS content, p.status, \
           (SELECT json_group_array(t.tag ORDER BY t.position) \
              FROM post_tags t WHERE t.post_id = p.id) AS tags, \
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
    Id(uuid::Uuid),
    /// Its slug.
    Slug(&'a str),
}

/// One post, whole.
pub(super) async fn post<'c>(
    conn: impl SqliteExecutor<'c>,
    key: PostKey<'_>,
) -> DataResult<Option<Post>> {
    let (column, value) = match key {
        PostKey::Id(post) => ("p.id", id(post)),
        PostKey::Slug(slug) => ("p.slug", slug.to_owned()),
    };
    let sql = format!("{} WHERE {column} = ?", post_select("p.content"));
    let row: Option<PostRow> = sqlx::query_as(&sql)
        .bind(value)
        .fetch_optional(conn)
        .await?;
    Ok(row
        .map(PostRow::parts)
        .transpose()?
        .map(PostParts::into_post))
}

/// Appends the `WHERE` clause selecting the posts `query` asks for.
fn push_filters(sql: &mut QueryBuilder<'_, Sqlite>, query: &PostQuery) {
    sql.push(" WHERE 1 = 1");
    if !query.all_drafts {
        match query.drafts_of {
            Some(viewer) => {
                sql.push(" AND (p.status = 'published' OR p.author_id = ")
                    .push_bind(id(viewer))
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
        sql.push(" AND p.author_id = ").push_bind(id(author));
    }
    if let Some(tag) = &query.tag {
        sql.push(" AND EXISTS (SELECT 1 FROM post_tags t WHERE t.post_id = p.id AND t.tag = ")
            .push_bind(tag.clone())
            .push(")");
    }
    if let Some(search) = &query.search {
        // SQLite's LIKE folds ASCII case only.
        let pattern = like_contains(search);
        sql.push(" AND (p.title LIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR p.content LIKE ")
            .push_bind(pattern)
            .push(" ESCAPE '\\')");
    }
}

/// A page of summaries matching `query`, newest first, and their total.
pub(super) async fn list(
    pool: &sqlx::SqlitePool,
    query: &PostQuery,
) -> DataResult<Page<PostSummary>> {
    let mut total = QueryBuilder::new("SELECT COUNT(*) FROM posts p");
    push_filters(&mut total, query);
    let total: i64 = total.build_query_scalar().fetch_one(pool).await?;

    let (limit, offset) = limit_offset(query.page);
    let prefix = format!("substr(p.content, 1, {})", EXCERPT_CHARS + 1);
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
pub(super) async fn tag_counts(pool: &sqlx::SqlitePool) -> DataResult<Vec<TagCount>> {
    let rows = sqlx::query_as(common::TAG_COUNTS).fetch_all(pool).await?;
    Ok(common::tag_counts(rows))
}
