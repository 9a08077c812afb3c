//! What clients see: response views built from the data records, camelCase,
//! RFC 3339 UTC timestamps, wrapped by [`crate::presentation::envelope`].
//! Only the fields listed here can ever reach a client.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::business::{PublicProfile, Session, excerpt};
use crate::data::{AuthorRef, Comment, Notification, Post, PostSummary, TagCount, User};

/// A user as they see themselves: with email and role.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    id: Uuid,
    email: String,
    name: String,
    role: &'static str,
    created_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            name: user.name,
            role: user.role.as_str(),
            created_at: user.created_at,
        }
    }
}

/// A login's result: the token, once.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    token: String,
    expires_at: DateTime<Utc>,
    user: UserView,
}

impl From<Session> for SessionView {
    fn from(session: Session) -> Self {
        Self {
            token: session.token,
            expires_at: session.expires_at,
            user: session.user.into(),
        }
    }
}

/// Anyone's view of a user; `email` only for the user or an admin.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicProfileView {
    id: Uuid,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    created_at: DateTime<Utc>,
    post_count: u64,
    follower_count: u64,
}

impl From<PublicProfile> for PublicProfileView {
    fn from(public: PublicProfile) -> Self {
        let PublicProfile {
            profile,
            email_visible,
        } = public;
        Self {
            id: profile.user.id,
            name: profile.user.name,
            email: email_visible.then_some(profile.user.email),
            created_at: profile.user.created_at,
            post_count: profile.post_count,
            follower_count: profile.follower_count,
        }
    }
}

/// Who wrote something.
#[derive(Debug, Serialize)]
pub struct AuthorView {
    id: Uuid,
    name: String,
}

impl From<AuthorRef> for AuthorView {
    fn from(author: AuthorRef) -> Self {
        Self {
            id: author.id,
            name: author.name,
        }
    }
}

/// A post in a list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostSummaryView {
    id: Uuid,
    slug: String,
    title: String,
    excerpt: String,
    status: &'static str,
    tags: Vec<String>,
    author: AuthorView,
    comment_count: u64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    published_at: Option<DateTime<Utc>>,
}

impl From<PostSummary> for PostSummaryView {
    fn from(s: PostSummary) -> Self {
        Self {
            id: s.id,
            slug: s.slug,
            title: s.title,
            excerpt: s.excerpt,
            status: s.status.as_str(),
            tags: s.tags,
            author: s.author.into(),
            comment_count: s.comment_count,
            created_at: s.created_at,
            updated_at: s.updated_at,
            published_at: s.published_at,
        }
    }
}

/// A full post: the summary fields plus `content`.
#[derive(Debug, Serialize)]
pub struct PostView {
    #[serde(flatten)]
    summary: PostSummaryView,
    content: String,
}

impl From<Post> for PostView {
    fn from(post: Post) -> Self {
        let summary = PostSummary {
            id: post.id,
            slug: post.slug,
            title: post.title,
            excerpt: excerpt(&post.content),
            status: post.status,
            tags: post.tags,
            author: post.author,
            comment_count: post.comment_count,
            created_at: post.created_at,
            updated_at: post.updated_at,
            published_at: post.published_at,
        };
        Self {
            summary: summary.into(),
            content: post.content,
        }
    }
}

/// A comment.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommentView {
    id: Uuid,
    content: String,
    author: AuthorView,
    created_at: DateTime<Utc>,
}

impl From<Comment> for CommentView {
    fn from(c: Comment) -> Self {
        Self {
            id: c.id,
            content: c.content,
            author: c.author.into(),
            created_at: c.created_at,
        }
    }
}

/// The post a notification is about.
#[derive(Debug, Serialize)]
pub struct PostRefView {
    id: Uuid,
    slug: String,
    title: String,
}

/// A notification (`kind` is always `post.published` for now).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    id: Uuid,
    kind: &'static str,
    post: PostRefView,
    author: AuthorView,
    created_at: DateTime<Utc>,
    read: bool,
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> Self {
        let post = PostRefView {
            id: n.post_id,
            slug: n.post_slug,
            title: n.post_title,
        };
        Self {
            id: n.id,
            kind: "post.published",
            post,
            author: n.author.into(),
            created_at: n.created_at,
            read: n.read,
        }
    }
}

/// A tag and how many published posts carry it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TagView {
    name: String,
    post_count: u64,
}

impl From<TagCount> for TagView {
    fn from(tag: TagCount) -> Self {
        Self {
            name: tag.name,
            post_count: tag.post_count,
        }
    }
}
