//! The records the repositories store and return.
//!
//! They carry no serde derives on purpose: what clients see is built by the
//! presentation layer from these, so a stored field (a password hash, a
//! version) can never leak into a response by accident.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// What a user may do beyond their own content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The default.
    User,
    /// Sees and edits everything; made only by `app user promote`.
    Admin,
}

impl Role {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    /// Parses a stored name; unknown names are treated as the least privilege.
    pub fn from_stored(name: &str) -> Self {
        if name == "admin" {
            Self::Admin
        } else {
            Self::User
        }
    }
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// UUID v7.
    pub id: Uuid,
    /// As registered (compared case-insensitively).
    pub email: String,
    /// Display name.
    pub name: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// Its role.
    pub role: Role,
    /// When it registered.
    pub created_at: DateTime<Utc>,
}

/// A user to insert.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// UUID v7, chosen by the caller.
    pub id: Uuid,
    /// Already validated.
    pub email: String,
    /// Already validated.
    pub name: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A user's public profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The user.
    pub user: User,
    /// Published posts.
    pub post_count: u64,
    /// Followers.
    pub follower_count: u64,
}

/// A session to store.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 of the bearer token.
    pub token_hash: Vec<u8>,
    /// Whose session.
    pub user_id: Uuid,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// After this the token is refused.
    pub expires_at: DateTime<Utc>,
}

/// Whether a post is visible to the public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostStatus {
    /// Visible to its author and admins only.
    Draft,
    /// Visible to everyone.
    Published,
}

impl PostStatus {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
        }
    }

    /// Parses a stored or requested name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "draft" => Some(Self::Draft),
            "published" => Some(Self::Published),
            _ => None,
        }
    }
}

/// A post's author as shown with the post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorRef {
    /// The author's id.
    pub id: Uuid,
    /// The author's name.
    pub name: String,
}

/// A stored post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    /// UUID v7.
    pub id: Uuid,
    /// Unique, URL-safe, made from the title.
    pub slug: String,
    /// Title.
    pub title: String,
    /// Body.
    pub content: String,
    /// Draft or published.
    pub status: PostStatus,
    /// Tags, lower-cased, unique, in the order given.
    pub tags: Vec<String>,
    /// The author.
    pub author: AuthorRef,
    /// Comments on it.
    pub comment_count: u64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// First publication, if any.
    pub published_at: Option<DateTime<Utc>>,
    /// Bumped on every change: the basis of the ETag and of `If-Match`.
    pub version: i64,
}

/// A post in a list (no content; an excerpt instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostSummary {
    /// UUID v7.
    pub id: Uuid,
    /// Slug.
    pub slug: String,
    /// Title.
    pub title: String,
    /// The first characters of the content.
    pub excerpt: String,
    /// Draft or published.
    pub status: PostStatus,
    /// Tags.
    pub tags: Vec<String>,
    /// The author.
    pub author: AuthorRef,
    /// Comments on it.
    pub comment_count: u64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// First publication, if any.
    pub published_at: Option<DateTime<Utc>>,
}

/// A post to insert.
#[derive(Debug, Clone)]
pub struct NewPost {
    /// UUID v7.
    pub id: Uuid,
    /// The slug to use, or to suffix with `-2`, `-3`, ... when taken.
    pub slug_base: String,
    /// Title.
    pub title: String,
    /// Body.
    pub content: String,
    /// Draft or published.
    pub status: PostStatus,
    /// Tags, already normalised.
    pub tags: Vec<String>,
    /// The author.
    pub author_id: Uuid,
    /// Creation time (also `published_at` when published).
    pub created_at: DateTime<Utc>,
}

/// A partial update of a post; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct PostChange {
    /// New title.
    pub title: Option<String>,
    /// New body.
    pub content: Option<String>,
    /// New status.
    pub status: Option<PostStatus>,
    /// New tags, already normalised.
    pub tags: Option<Vec<String>>,
    /// The version the caller read; the update fails if it changed.
    pub expected_version: i64,
    /// Set `published_at` to this and notify followers (first publication).
    pub first_publish: Option<DateTime<Utc>>,
    /// Time of the change.
    pub now: DateTime<Utc>,
}

/// Which posts a list shows, after the business layer applied visibility.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostQuery {
    /// Only posts with this status (`None`: any the viewer may see).
    pub status: Option<PostStatus>,
    /// Only posts by this author.
    pub author: Option<Uuid>,
    /// Only posts with this tag.
    pub tag: Option<String>,
    /// Words searched in title and content (case-insensitive substring).
    pub search: Option<String>,
    /// Drafts of this author are visible besides published posts
    /// (`Some` for a non-admin viewer, `None` for anonymous).
    pub drafts_of: Option<Uuid>,
    /// Every draft is visible (admins).
    pub all_drafts: bool,
    /// Which page.
    pub page: PageRequest,
}

/// A stored comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// UUID v7.
    pub id: Uuid,
    /// The post it is on.
    pub post_id: Uuid,
    /// Body.
    pub content: String,
    /// Who wrote it.
    pub author: AuthorRef,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A comment to insert.
#[derive(Debug, Clone)]
pub struct NewComment {
    /// UUID v7.
    pub id: Uuid,
    /// The post.
    pub post_id: Uuid,
    /// Body, already validated.
    pub content: String,
    /// Who writes it.
    pub author_id: Uuid,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A stored notification (only `post.published` exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// UUID v7.
    pub id: Uuid,
    /// The published post.
    pub post_id: Uuid,
    /// Its slug.
    pub post_slug: String,
    /// Its title.
    pub post_title: String,
    /// Who published it.
    pub author: AuthorRef,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Whether the user marked it read.
    pub read: bool,
}

/// A tag and how many published posts carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagCount {
    /// The tag.
    pub name: String,
    /// Published posts with it.
    pub post_count: u64,
}

/// A page of a list: `page` ≥ 1, `limit` 1..=100 (validated above this layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// 1-based page number.
    pub page: u32,
    /// Items per page.
    pub limit: u32,
}

impl PageRequest {
    /// Rows to skip.
    pub fn offset(&self) -> u64 {
        u64::from(self.page.saturating_sub(1)) * u64::from(self.limit)
    }
}

/// One page of items and the total over all pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Items over all pages.
    pub total: u64,
}

/// Connections of a pool, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    /// Open connections.
    pub size: u32,
    /// Of which idle.
    pub idle: u32,
}
