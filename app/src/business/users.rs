//! People: public profiles, follows, and the notifications that following
//! an author brings (one per post the author publishes).

use std::sync::Arc;

use uuid::Uuid;

use crate::business::error::{DataContext as _, ServiceError, ServiceResult};
use crate::business::visibility::Viewer;
use crate::business::{Listing, validate};
use crate::data::{
    FollowRepository, Notification, NotificationRepository, Profile, Repositories, UserRepository,
};

/// A profile and whether the viewer may see its email.
#[derive(Debug, Clone)]
pub struct PublicProfile {
    /// The profile.
    pub profile: Profile,
    /// True for the user themselves and for admins only.
    pub email_visible: bool,
}

/// Profiles, follows and notifications.
pub struct UserService {
    users: Arc<dyn UserRepository>,
    follows: Arc<dyn FollowRepository>,
    notifications: Arc<dyn NotificationRepository>,
}

impl UserService {
    pub(crate) fn new(repos: &Repositories) -> Self {
        Self {
            users: Arc::clone(&repos.users),
            follows: Arc::clone(&repos.follows),
            notifications: Arc::clone(&repos.notifications),
        }
    }

    /// The public profile of `id`; its email only for the user or an admin.
    pub async fn profile(&self, viewer: Option<Viewer>, id: Uuid) -> ServiceResult<PublicProfile> {
        let profile = self
            .users
            .profile(id)
            .await
            .during("loading a profile")?
            .ok_or(ServiceError::NotFound)?;
        let email_visible = viewer.is_some_and(|viewer| viewer.is_or_admin(id));
        Ok(PublicProfile {
            profile,
            email_visible,
        })
    }

    /// `viewer` follows `author`; idempotent.
    pub async fn follow(&self, viewer: Viewer, author: Uuid) -> ServiceResult<()> {
        self.followable(viewer, author).await?;
        self.follows
            .follow(viewer.id, author)
            .await
            .during("following")
    }

    /// `viewer` stops following `author`; idempotent.
    pub async fn unfollow(&self, viewer: Viewer, author: Uuid) -> ServiceResult<()> {
        self.followable(viewer, author).await?;
        self.follows
            .unfollow(viewer.id, author)
            .await
            .during("unfollowing")
    }

    async fn followable(&self, viewer: Viewer, author: Uuid) -> ServiceResult<()> {
        not_self(viewer, author)?;
        let user = self.users.by_id(author).await.during("loading a user")?;
        user.map(drop).ok_or(ServiceError::NotFound)
    }

    /// The viewer's notifications, newest first.
    pub async fn notifications(
        &self,
        viewer: Viewer,
        page: Option<&str>,
        limit: Option<&str>,
    ) -> ServiceResult<Listing<Notification>> {
        let page = validate::paging(page, limit)?;
        let found = self
            .notifications
            .list(viewer.id, page)
            .await
            .during("listing notifications")?;
        Ok(Listing::of(found, page))
    }

    /// Marks every notification of the viewer read.
    pub async fn mark_notifications_read(&self, viewer: Viewer) -> ServiceResult<()> {
        self.notifications
            .mark_all_read(viewer.id)
            .await
            .during("marking notifications read")
    }
}

/// Following (or unfollowing) yourself is a validation error on the path id.
fn not_self(viewer: Viewer, author: Uuid) -> ServiceResult<()> {
    if viewer.id == author {
        Err(ServiceError::invalid("id", "you cannot follow yourself"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Role;

    #[test]
    fn no_following_yourself() {
        let me = Viewer {
            id: Uuid::now_v7(),
            role: Role::Admin,
        };
        assert!(matches!(
            not_self(me, me.id),
            Err(ServiceError::Validation(_))
        ));
        assert!(not_self(me, Uuid::now_v7()).is_ok());
    }
}
