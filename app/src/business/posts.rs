//! Posts: validation, visibility, optimistic concurrency and caching.

use std::sync::Arc;

use chrono::Utc;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::business::cache::{Reach, ReadCache, Shared};
use crate::business::error::{DataContext as _, Problems, ServiceError, ServiceResult};
use crate::business::post_query::{PostFilter, list_query, matches_nothing, status};
use crate::business::visibility::{Viewer, can_see, may_edit};
use crate::business::{Listing, slug, tags, validate};
use crate::data::{NewPost, Page, Post, PostChange, PostRepository, PostStatus, PostSummary};

/// A post as a client submits it.
#[derive(Debug, Clone)]
pub struct PostDraft {
    /// 3..=200 characters, trimmed.
    pub title: String,
    /// 10..=100 000 characters (trimmed length).
    pub content: String,
    /// See [`tags::normalize`].
    pub tags: Vec<String>,
    /// `draft` (default) or `published`.
    pub status: Option<String>,
}

/// A partial update; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default)]
pub struct PostPatch {
    /// New title.
    pub title: Option<String>,
    /// New content.
    pub content: Option<String>,
    /// New tags (replacing the old ones).
    pub tags: Option<Vec<String>>,
    /// New status.
    pub status: Option<String>,
}

/// Reads and writes posts on behalf of a viewer.
pub struct PostService {
    posts: Arc<dyn PostRepository>,
    cache: Arc<ReadCache>,
}

impl PostService {
    pub(crate) fn new(posts: Arc<dyn PostRepository>, cache: Arc<ReadCache>) -> Self {
        Self { posts, cache }
    }

    /// Posts the viewer may see, newest first (cached per query and scope,
    /// which is the viewer's visibility: every viewer of one entry may see
    /// all of it).
    pub async fn list(
        &self,
        viewer: Option<Viewer>,
        filter: PostFilter,
    ) -> ServiceResult<Arc<Shared<Listing<PostSummary>>>> {
        let query = list_query(viewer, filter)?;
        if matches_nothing(&query) {
            let nothing = Page {
                items: Vec::new(),
                total: 0,
            };
            return Ok(Arc::new(Shared::new(Listing::of(nothing, query.page))));
        }
        let key = format!("{:x}", Sha256::digest(format!("{query:?}")));
        let load = async {
            let found = self.posts.list(&query).await.during("listing posts")?;
            Ok(Listing::of(found, query.page))
        };
        // Every distinct search would be a new entry: keep them in process.
        let reach = match query.search {
            Some(_) => Reach::Local,
            None => Reach::Shared,
        };
        self.cache.read("post-list", &key, reach, load).await
    }

    /// A post by id or slug (always `Some`); `NotFound` for a draft the
    /// viewer may not see, decided on every call.
    pub async fn get(
        &self,
        viewer: Option<Viewer>,
        id_or_slug: &str,
    ) -> ServiceResult<Arc<Shared<Option<Post>>>> {
        let id = Uuid::parse_str(id_or_slug).ok();
        // No slug holds NUL (and PostgreSQL cannot even compare one).
        let may_be_slug = id_or_slug.len() <= 200 && !id_or_slug.contains('\0');
        if id.is_none() && !may_be_slug {
            return Err(ServiceError::NotFound);
        }
        // One generation for both lookups: a UUID that names no post may
        // still be a slug.
        let cache = self.cache.current().await;
        let mut post = None;
        if let Some(id) = id {
            let load = async { self.posts.by_id(id).await.during("loading a post") };
            let found = cache
                .read("post", &format!("id:{id}"), Reach::Shared, load)
                .await?;
            post = Some(found).filter(|found| found.value().is_some());
        }
        if post.is_none() && may_be_slug {
            let load = async {
                self.posts
                    .by_slug(id_or_slug)
                    .await
                    .during("loading a post")
            };
            let key = format!("slug:{id_or_slug}");
            post = Some(cache.read("post", &key, Reach::Shared, load).await?);
        }
        post.filter(|found| {
            found
                .value()
                .as_ref()
                .is_some_and(|post| can_see(viewer, post.author.id, post.status))
        })
        .ok_or(ServiceError::NotFound)
    }

    /// Creates a post by `viewer`; publishing notifies its followers.
    pub async fn create(&self, viewer: Viewer, draft: PostDraft) -> ServiceResult<Post> {
        let mut problems = Problems::default();
        let title = problems.check(validate::line("title", &draft.title, validate::TITLE_LEN));
        let content = problems.check(validate::text(
            "content",
            &draft.content,
            validate::CONTENT_LEN,
        ));
        let tags = problems.check(tags::normalize(&draft.tags));
        let status =
            problems.check(status(draft.status.as_deref()).map(|s| s.unwrap_or(PostStatus::Draft)));
        problems.finish()?;
        let (Some(title), Some(content), Some(tags), Some(status)) = (title, content, tags, status)
        else {
            return Err(ServiceError::invalid("body", "the post is incomplete"));
        };
        let new = NewPost {
            id: Uuid::now_v7(),
            slug_base: slug::slugify(&title),
            title,
            content,
            status,
            tags,
            author_id: viewer.id,
            created_at: Utc::now(),
        };
        self.posts.create(new).await.during("creating a post")
    }

    /// Applies `patch` as `viewer`. With `if_versions` (from `If-Match`) the
    /// post must still be at one of them, else `PreconditionFailed`; the
    /// repository re-checks the version in its transaction, so a concurrent
    /// edit between the read and the write fails the same way. Without, the
    /// patch applies to the current version, whatever it is by then. The first
    /// publication sets `publishedAt` and notifies the author's followers.
    pub async fn update(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: PostPatch,
        if_versions: Option<&[i64]>,
    ) -> ServiceResult<Post> {
        let post = existing(self.posts.as_ref(), id).await?;
        may_edit(viewer, post.author.id, post.status)?;
        let mut problems = Problems::default();
        let check_title = |t: String| validate::line("title", &t, validate::TITLE_LEN);
        let title = problems.check(patch.title.map(check_title).transpose());
        let check_content = |c: String| validate::text("content", &c, validate::CONTENT_LEN);
        let content = problems.check(patch.content.map(check_content).transpose());
        let tags = problems.check(patch.tags.as_deref().map(tags::normalize).transpose());
        let status = problems.check(status(patch.status.as_deref()));
        problems.finish()?;
        if if_versions.is_some_and(|versions| !versions.contains(&post.version)) {
            return Err(ServiceError::PreconditionFailed);
        }
        let (title, content, tags, status) = (
            title.flatten(),
            content.flatten(),
            tags.flatten(),
            status.flatten(),
        );
        if title.is_none() && content.is_none() && tags.is_none() && status.is_none() {
            return Ok(post);
        }
        let now = Utc::now();
        let first_publish = status == Some(PostStatus::Published) && post.published_at.is_none();
        let change = PostChange {
            title,
            content,
            tags,
            status,
            // Without `If-Match` the client asked for no version: the change
            // applies to whatever is current when the row is locked, so
            // concurrent editors never get a 412 they did not ask for.
            expected_version: if_versions.map(|_| post.version),
            first_publish: first_publish.then_some(now),
            now,
        };
        self.posts
            .update(id, change)
            .await
            .during("updating a post")
    }

    /// Deletes a post and its comments, as its author or an admin.
    pub async fn delete(&self, viewer: Viewer, id: Uuid) -> ServiceResult<()> {
        let post = existing(self.posts.as_ref(), id).await?;
        may_edit(viewer, post.author.id, post.status)?;
        self.posts.delete(id).await.during("deleting a post")
    }
}

/// The post `id`, or `NotFound`.
pub(crate) async fn existing(posts: &dyn PostRepository, id: Uuid) -> ServiceResult<Post> {
    posts
        .by_id(id)
        .await
        .during("loading a post")?
        .ok_or(ServiceError::NotFound)
}

/// The excerpt of a full post, made by the same rule as the summaries'.
pub use crate::data::excerpt;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_match_the_summaries() {
        assert_eq!(excerpt("  short post  "), "short post");
        let exact = "x".repeat(crate::data::EXCERPT_CHARS);
        assert_eq!(excerpt(&exact), exact);
        let unbroken = "é".repeat(300);
        assert_eq!(
            excerpt(&unbroken).chars().count(),
            crate::data::EXCERPT_CHARS + 1
        );
    }
}
