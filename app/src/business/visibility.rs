//! Who may see and change what: pure decisions, kept apart from the
//! services so every rule is tested on its own.
//!
//! A draft is visible to its author and to admins only; to anyone else it
//! does not exist (404, never 403, so its existence does not leak). Those
//! who can see a resource but not change it get 403.

use uuid::Uuid;

use crate::business::error::{ServiceError, ServiceResult};
use crate::data::{PostStatus, Role, User};

/// The authenticated caller, as far as authorization cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    /// The caller's user id.
    pub id: Uuid,
    /// The caller's role.
    pub role: Role,
}

impl Viewer {
    /// The viewer that `user` is.
    pub fn of(user: &User) -> Self {
        Self {
            id: user.id,
            role: user.role,
        }
    }

    /// Whether the caller is an admin.
    pub fn is_admin(self) -> bool {
        self.role == Role::Admin
    }

    /// Whether the caller is `user` or an admin (owner-or-admin rules).
    pub fn is_or_admin(self, user: Uuid) -> bool {
        self.id == user || self.is_admin()
    }
}

/// Whether `viewer` (anonymous when `None`) may see a post.
pub fn can_see(viewer: Option<Viewer>, author: Uuid, status: PostStatus) -> bool {
    status == PostStatus::Published || viewer.is_some_and(|viewer| viewer.is_or_admin(author))
}

/// Whether `viewer` may change or delete a post: 404 when it cannot even
/// see it, 403 when it can see it but is neither its author nor an admin.
pub fn may_edit(viewer: Viewer, author: Uuid, status: PostStatus) -> ServiceResult<()> {
    if !can_see(Some(viewer), author, status) {
        Err(ServiceError::NotFound)
    } else if viewer.is_or_admin(author) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden)
    }
}

/// Whether `viewer` may delete a comment: its author, the post's author or
/// an admin.
pub fn may_delete_comment(
    viewer: Viewer,
    comment_author: Uuid,
    post_author: Uuid,
) -> ServiceResult<()> {
    if viewer.is_or_admin(comment_author) || viewer.id == post_author {
        Ok(())
    } else {
        Err(ServiceError::Forbidden)
    }
}

/// Which drafts a post list may show, as `(drafts_of, all_drafts)` of
/// `PostQuery`: admins see all; others see their own drafts only when they
/// filter by themselves as author; anonymous callers see none.
pub fn list_scope(viewer: Option<Viewer>, author: Option<Uuid>) -> (Option<Uuid>, bool) {
    match viewer {
        Some(viewer) if viewer.is_admin() => (None, true),
        Some(viewer) if author == Some(viewer.id) => (Some(viewer.id), false),
        _ => (None, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PostStatus::{Draft, Published};

    fn user() -> Viewer {
        Viewer {
            id: Uuid::now_v7(),
            role: Role::User,
        }
    }

    fn admin() -> Viewer {
        Viewer {
            id: Uuid::now_v7(),
            role: Role::Admin,
        }
    }

    #[test]
    fn drafts_are_seen_by_author_and_admins_only() {
        let (author, other) = (user(), user());
        assert!(can_see(None, author.id, Published));
        assert!(!can_see(None, author.id, Draft));
        assert!(can_see(Some(author), author.id, Draft));
        assert!(!can_see(Some(other), author.id, Draft));
        assert!(can_see(Some(admin()), author.id, Draft));
    }

    #[test]
    fn editing_hides_drafts_and_forbids_strangers() {
        let (author, other) = (user(), user());
        assert!(may_edit(author, author.id, Draft).is_ok());
        assert!(may_edit(admin(), author.id, Draft).is_ok());
        assert!(matches!(
            may_edit(other, author.id, Draft),
            Err(ServiceError::NotFound)
        ));
        assert!(matches!(
            may_edit(other, author.id, Published),
            Err(ServiceError::Forbidden)
        ));
    }

    #[test]
    fn comment_deletion() {
        let (writer, post_author, other) = (user(), user(), user());
        assert!(may_delete_comment(writer, writer.id, post_author.id).is_ok());
        assert!(may_delete_comment(post_author, writer.id, post_author.id).is_ok());
        assert!(may_delete_comment(admin(), writer.id, post_author.id).is_ok());
        let refused = may_delete_comment(other, writer.id, post_author.id);
        assert!(matches!(refused, Err(ServiceError::Forbidden)));
    }

    #[test]
    fn list_scopes() {
        let (me, other) = (user(), user());
        assert_eq!(list_scope(None, Some(me.id)), (None, false));
        assert_eq!(list_scope(Some(me), None), (None, false));
        assert_eq!(list_scope(Some(me), Some(other.id)), (None, false));
        assert_eq!(list_scope(Some(me), Some(me.id)), (Some(me.id), false));
        assert_eq!(list_scope(Some(admin()), Some(me.id)), (None, true));
    }
}
