//! Posts, their summaries in lists, changes, queries and tag counts.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::PageRequest;

/// Whether a post is visible to the public.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuthorRef {
    /// The author's id.
    pub id: Uuid,
    /// The author's name.
    pub name: String,
}

/// A stored post.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct PostChange {
    /// New title.
    pub title: Option<String>,
    /// New body.
    pub content: Option<String>,
    /// New status.
    pub status: Option<PostStatus>,
    /// New tags, already normalised.
    pub tags: Option<Vec<String>>,
    /// The version the caller names (from `If-Match`); the update fails if
    /// the post is no longer at it. `None` applies the change to whatever
    /// version is current, as a client without `If-Match` asks.
    pub expected_version: Option<i64>,
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

/// A tag and how many published posts carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagCount {
    /// The tag.
    pub name: String,
    /// Published posts with it.
    pub post_count: u64,
}
