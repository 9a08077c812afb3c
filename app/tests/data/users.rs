//! Users: creation, case-insensitive emails, roles and profiles.

use app::data::{DataError, PostStatus, Role};
use uuid::Uuid;

use super::harness::{new_user, post, stored, user};

both! {
    /// A user reads back as stored, by id and by email in any case, with
    /// its time cut to microseconds.
    async fn create_and_find(repos) {
        let ann = user(&repos, "Ann@Example.com").await;
        assert_eq!(ann.email, "Ann@Example.com");
        assert_eq!(ann.role, Role::User);
        assert_eq!(ann.created_at, stored(0));
        assert_eq!(repos.users.by_id(ann.id).await.unwrap(), Some(ann.clone()));
        assert_eq!(repos.users.by_email("ann@example.COM").await.unwrap(), Some(ann));
        assert_eq!(repos.users.by_email("bob@example.com").await.unwrap(), None);
        assert_eq!(repos.users.by_id(Uuid::now_v7()).await.unwrap(), None);
    }

    /// A second account with the same email in another case is refused.
    async fn email_is_unique_ignoring_case(repos) {
        user(&repos, "ann@example.com").await;
        let refused = repos.users.create(new_user("ANN@Example.COM")).await;
        assert!(
            matches!(refused, Err(DataError::Conflict { constraint: "users.email" })),
            "{refused:?}"
        );
        let unicode = user(&repos, "ÉLODIE@example.com").await;
        let refused = repos.users.create(new_user("élodie@example.com")).await;
        assert!(matches!(refused, Err(DataError::Conflict { .. })), "{refused:?}");
        assert_eq!(repos.users.by_email("Élodie@EXAMPLE.com").await.unwrap(), Some(unicode));
    }

    /// Roles are set by email; an unknown email is `NotFound`.
    async fn set_role(repos) {
        let ann = user(&repos, "ann@example.com").await;
        let admin = repos.users.set_role("ANN@example.com", Role::Admin).await.unwrap();
        assert_eq!(admin.role, Role::Admin);
        assert_eq!(repos.users.by_id(ann.id).await.unwrap().unwrap().role, Role::Admin);
        let back = repos.users.set_role("ann@example.com", Role::User).await.unwrap();
        assert_eq!(back.role, Role::User);
        let missing = repos.users.set_role("nobody@example.com", Role::Admin).await;
        assert!(matches!(missing, Err(DataError::NotFound)), "{missing:?}");
    }

    /// A profile counts published posts only, and followers.
    async fn profile_counts(repos) {
        let ann = user(&repos, "ann@example.com").await;
        let bob = user(&repos, "bob@example.com").await;
        let cid = user(&repos, "cid@example.com").await;
        post(&repos, &ann, "Out now", PostStatus::Published, 1, &[]).await;
        post(&repos, &ann, "Not yet", PostStatus::Draft, 2, &[]).await;
        repos.follows.follow(bob.id, ann.id).await.unwrap();
        repos.follows.follow(cid.id, ann.id).await.unwrap();

        let profile = repos.users.profile(ann.id).await.unwrap().unwrap();
        assert_eq!(profile.user, ann);
        assert_eq!((profile.post_count, profile.follower_count), (1, 2));
        let profile = repos.users.profile(bob.id).await.unwrap().unwrap();
        assert_eq!((profile.post_count, profile.follower_count), (0, 0));
        assert_eq!(repos.users.profile(Uuid::now_v7()).await.unwrap(), None);
    }

    /// Following twice and unfollowing a stranger are not errors; a follow
    /// of a user that does not exist is `NotFound`.
    async fn follows_are_idempotent(repos) {
        let ann = user(&repos, "ann@example.com").await;
        let bob = user(&repos, "bob@example.com").await;
        repos.follows.follow(bob.id, ann.id).await.unwrap();
        repos.follows.follow(bob.id, ann.id).await.unwrap();
        let followers = |repos: app::data::Repositories| async move {
            repos.users.profile(ann.id).await.unwrap().unwrap().follower_count
        };
        assert_eq!(followers(repos.clone()).await, 1);
        repos.follows.unfollow(bob.id, ann.id).await.unwrap();
        repos.follows.unfollow(bob.id, ann.id).await.unwrap();
        assert_eq!(followers(repos.clone()).await, 0);
        let ghost = repos.follows.follow(bob.id, Uuid::now_v7()).await;
        assert!(matches!(ghost, Err(DataError::NotFound)), "{ghost:?}");
    }
}
