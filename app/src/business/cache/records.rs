//! How cached reads are stored: private serde mirrors of the data models
//! (which deliberately carry no serde derives), which values may go to the
//! shared cache, and what each weighs in process.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Cached;
use crate::business::Listing;
use crate::data::{AuthorRef, PageRequest, Post, PostStatus, PostSummary, TagCount};

/// What a record weighs beyond its text (ids, times, counts, allocations).
const RECORD_OVERHEAD: usize = 160;

/// Roughly the bytes a summary holds: its text and fixed fields.
fn summary_weight(summary: &PostSummary) -> usize {
    let tags: usize = summary.tags.iter().map(|t| t.len() + 24).sum();
    summary.slug.len()
        + summary.title.len()
        + summary.excerpt.len()
        + summary.author.name.len()
        + tags
        + RECORD_OVERHEAD
}

impl Cached for Option<Post> {
    fn encode(&self) -> Option<Vec<u8>> {
        serde_json::to_vec(&self.as_ref().map(CachedPost::from)).ok()
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        let post: Option<CachedPost> = serde_json::from_slice(bytes).ok()?;
        Some(post.map(Post::from))
    }
    fn shareable(&self) -> bool {
        self.is_some()
    }
    /// The record, and its rendering (the body twice: `content` and the
    /// excerpt are small beside it).
    fn weight(&self) -> usize {
        self.as_ref().map_or(RECORD_OVERHEAD, |post| {
            let tags: usize = post.tags.iter().map(|t| t.len() + 24).sum();
            2 * (post.content.len()
                + post.slug.len()
                + post.title.len()
                + post.author.name.len()
                + tags
                + RECORD_OVERHEAD)
        })
    }
}

impl Cached for Listing<PostSummary> {
    fn encode(&self) -> Option<Vec<u8>> {
        let items: Vec<_> = self.items.iter().map(CachedSummary::from).collect();
        let page = (self.page.page, self.page.limit);
        serde_json::to_vec(&(items, self.total, page)).ok()
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        let (items, total, (page, limit)): (Vec<CachedSummary>, u64, (u32, u32)) =
            serde_json::from_slice(bytes).ok()?;
        Some(Listing {
            items: items.into_iter().map(PostSummary::from).collect(),
            total,
            page: PageRequest { page, limit },
        })
    }
    fn shareable(&self) -> bool {
        !self.items.is_empty()
    }
    /// The summaries and their rendering.
    fn weight(&self) -> usize {
        2 * self.items.iter().map(summary_weight).sum::<usize>() + RECORD_OVERHEAD
    }
}

impl Cached for Vec<TagCount> {
    fn encode(&self) -> Option<Vec<u8>> {
        let pairs: Vec<_> = self.iter().map(|tag| (&tag.name, tag.post_count)).collect();
        serde_json::to_vec(&pairs).ok()
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        let pairs: Vec<(String, u64)> = serde_json::from_slice(bytes).ok()?;
        Some(
            pairs
                .into_iter()
                .map(|(name, post_count)| TagCount { name, post_count })
                .collect(),
        )
    }
    /// The names and their rendering.
    fn weight(&self) -> usize {
        2 * self.iter().map(|tag| tag.name.len() + 48).sum::<usize>() + RECORD_OVERHEAD
    }
}

#[derive(Serialize, Deserialize)]
struct CachedPost {
    summary: CachedSummary,
    content: String,
    version: i64,
}

#[derive(Serialize, Deserialize)]
struct CachedSummary {
    id: Uuid,
    slug: String,
    title: String,
    excerpt: String,
    published: bool,
    tags: Vec<String>,
    author: (Uuid, String),
    comment_count: u64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    published_at: Option<DateTime<Utc>>,
}

impl From<&Post> for CachedPost {
    fn from(post: &Post) -> Self {
        let summary = CachedSummary {
            id: post.id,
            slug: post.slug.clone(),
            title: post.title.clone(),
            excerpt: String::new(),
            published: post.status == PostStatus::Published,
            tags: post.tags.clone(),
            author: (post.author.id, post.author.name.clone()),
            comment_count: post.comment_count,
            created_at: post.created_at,
            updated_at: post.updated_at,
            published_at: post.published_at,
        };
        Self {
            summary,
            content: post.content.clone(),
            version: post.version,
        }
    }
}

impl From<CachedPost> for Post {
    fn from(cached: CachedPost) -> Self {
        let s = PostSummary::from(cached.summary);
        Post {
            id: s.id,
            slug: s.slug,
            title: s.title,
            content: cached.content,
            status: s.status,
            tags: s.tags,
            author: s.author,
            comment_count: s.comment_count,
            created_at: s.created_at,
            updated_at: s.updated_at,
            published_at: s.published_at,
            version: cached.version,
        }
    }
}

impl From<&PostSummary> for CachedSummary {
    fn from(s: &PostSummary) -> Self {
        Self {
            id: s.id,
            slug: s.slug.clone(),
            title: s.title.clone(),
            excerpt: s.excerpt.clone(),
            published: s.status == PostStatus::Published,
            tags: s.tags.clone(),
            author: (s.author.id, s.author.name.clone()),
            comment_count: s.comment_count,
            created_at: s.created_at,
            updated_at: s.updated_at,
            published_at: s.published_at,
        }
    }
}

impl From<CachedSummary> for PostSummary {
    fn from(c: CachedSummary) -> Self {
        let status = if c.published {
            PostStatus::Published
        } else {
            PostStatus::Draft
        };
        PostSummary {
            id: c.id,
            slug: c.slug,
            title: c.title,
            excerpt: c.excerpt,
            status,
            tags: c.tags,
            author: AuthorRef {
                id: c.author.0,
                name: c.author.1,
            },
            comment_count: c.comment_count,
            created_at: c.created_at,
            updated_at: c.updated_at,
            published_at: c.published_at,
        }
    }
}
