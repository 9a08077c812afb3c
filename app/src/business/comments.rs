//! Comments: only on published posts, deletable by the comment's author,
//! the post's author or an admin.

use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use crate::business::error::{DataContext as _, ServiceError, ServiceResult};
use crate::business::visibility::{Viewer, can_see, may_delete_comment};
use crate::business::{Listing, posts, validate};
use crate::data::{Comment, CommentRepository, NewComment, Post, PostRepository, PostStatus};

/// Reads and writes comments on behalf of a viewer.
pub struct CommentService {
    posts: Arc<dyn PostRepository>,
    comments: Arc<dyn CommentRepository>,
}

impl CommentService {
    pub(crate) fn new(
        posts: Arc<dyn PostRepository>,
        comments: Arc<dyn CommentRepository>,
    ) -> Self {
        Self { posts, comments }
    }

    /// The comments of a post the viewer may see, oldest first.
    pub async fn list(
        &self,
        viewer: Option<Viewer>,
        post_id: Uuid,
        page: Option<&str>,
        limit: Option<&str>,
    ) -> ServiceResult<Listing<Comment>> {
        let page = validate::paging(page, limit)?;
        let post = self.post(post_id).await?;
        if !can_see(viewer, post.author.id, post.status) {
            return Err(ServiceError::NotFound);
        }
        let found = self
            .comments
            .list(post_id, page)
            .await
            .during("listing comments")?;
        Ok(Listing::of(found, page))
    }

    /// Adds a comment by `viewer`; a post that is not published is
    /// `NotFound`, even for its author.
    pub async fn create(
        &self,
        viewer: Viewer,
        post_id: Uuid,
        content: &str,
    ) -> ServiceResult<Comment> {
        let post = self.post(post_id).await?;
        if post.status != PostStatus::Published {
            return Err(ServiceError::NotFound);
        }
        let content = validate::text("content", content, validate::COMMENT_LEN)
            .map_err(|e| ServiceError::Validation(vec![e]))?;
        let new = NewComment {
            id: Uuid::now_v7(),
            post_id,
            content,
            author_id: viewer.id,
            created_at: Utc::now(),
        };
        self.comments.create(new).await.during("adding a comment")
    }

    /// Deletes a comment as its author, the post's author or an admin;
    /// `NotFound` when the viewer cannot see the post it is on.
    pub async fn delete(&self, viewer: Viewer, id: Uuid) -> ServiceResult<()> {
        let comment = self
            .comments
            .by_id(id)
            .await
            .during("loading a comment")?
            .ok_or(ServiceError::NotFound)?;
        let post = self.post(comment.post_id).await?;
        if !can_see(Some(viewer), post.author.id, post.status) {
            return Err(ServiceError::NotFound);
        }
        may_delete_comment(viewer, comment.author.id, post.author.id)?;
        self.comments.delete(id).await.during("deleting a comment")
    }

    async fn post(&self, id: Uuid) -> ServiceResult<Post> {
        posts::existing(self.posts.as_ref(), id).await
    }
}
