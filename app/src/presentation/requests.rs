//! What clients may send: one type per operation. Bodies deny unknown
//! fields, so an attempt to set `role`, `authorId`, `id`, `slug`,
//! `publishedAt`, ... is refused with 422 naming the field, and nothing is
//! written. `null` is the same as leaving an optional field out. Types that
//! hold a password have no `Debug`, so they cannot end up in a log.

use serde::Deserialize;

use crate::business::{PostDraft, PostFilter, PostPatch, Registration};

/// `POST /api/auth/register`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    email: String,
    name: String,
    password: String,
}

impl From<RegisterRequest> for Registration {
    fn from(r: RegisterRequest) -> Self {
        Self {
            email: r.email,
            name: r.name,
            password: r.password,
        }
    }
}

/// `POST /api/auth/login`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The account's email (any case).
    pub email: String,
    /// The password.
    pub password: String,
}

/// `POST /api/posts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePost {
    title: String,
    content: String,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    status: Option<String>,
}

impl From<CreatePost> for PostDraft {
    fn from(p: CreatePost) -> Self {
        Self {
            title: p.title,
            content: p.content,
            tags: p.tags.unwrap_or_default(),
            status: p.status,
        }
    }
}

/// `PATCH /api/posts/{id}`: any subset of the fields of [`CreatePost`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdatePost {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    status: Option<String>,
}

impl From<UpdatePost> for PostPatch {
    fn from(p: UpdatePost) -> Self {
        Self {
            title: p.title,
            content: p.content,
            tags: p.tags,
            status: p.status,
        }
    }
}

/// `POST /api/posts/{id}/comments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateComment {
    /// 1..=2000 characters.
    pub content: String,
}

/// `?page&limit` of a list, validated by the services (422 when out of
/// range or not numbers). Other parameters are ignored.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    /// Page number, from 1.
    pub page: Option<String>,
    /// Items per page, 1..=100 (default 10).
    pub limit: Option<String>,
}

/// `GET /api/posts` filters.
#[derive(Debug, Deserialize)]
pub struct PostListQuery {
    page: Option<String>,
    limit: Option<String>,
    status: Option<String>,
    author: Option<String>,
    tag: Option<String>,
    q: Option<String>,
}

impl From<PostListQuery> for PostFilter {
    fn from(q: PostListQuery) -> Self {
        Self {
            page: q.page,
            limit: q.limit,
            status: q.status,
            author: q.author,
            tag: q.tag,
            q: q.q,
        }
    }
}
