//! Publishing notifies the author's followers, once, in the same write.

use app::data::{PostChange, PostStatus};

use super::harness::{at, page, post, stored, user};

both! {
    /// The first publication notifies every follower once; a second
    /// `first_publish` (a lost race above) neither notifies again nor moves
    /// `published_at`.
    async fn first_publish_notifies_once(repos) {
        let ann = user(&repos, "ann@example.com").await;
        let bob = user(&repos, "bob@example.com").await;
        let cid = user(&repos, "cid@example.com").await;
        let dan = user(&repos, "dan@example.com").await;
        repos.follows.follow(bob.id, ann.id).await.unwrap();
        repos.follows.follow(cid.id, ann.id).await.unwrap();
        repos.follows.follow(ann.id, dan.id).await.unwrap();

        let draft = post(&repos, &ann, "Soon", PostStatus::Draft, 1, &[]).await;
        assert_eq!(repos.notifications.list(bob.id, page(1, 10)).await.unwrap().total, 0);

        let publish = PostChange {
            status: Some(PostStatus::Published),
            first_publish: Some(at(5)),
            expected_version: Some(1),
            now: at(5),
            ..PostChange::default()
        };
        let live = repos.posts.update(draft.id, publish.clone()).await.unwrap();
        assert_eq!((live.status, live.published_at), (PostStatus::Published, Some(stored(5))));
        let again = PostChange { first_publish: Some(at(9)), expected_version: Some(2), now: at(9), ..publish };
        let live = repos.posts.update(draft.id, again).await.unwrap();
        assert_eq!(live.published_at, Some(stored(5)));

        for follower in [&bob, &cid] {
            let got = repos.notifications.list(follower.id, page(1, 10)).await.unwrap();
            assert_eq!(got.total, 1);
            let note = &got.items[0];
            assert_eq!((note.post_id, note.post_slug.as_str(), note.post_title.as_str()), (draft.id, "soon", "Soon"));
            assert_eq!((note.author.id, note.author.name.as_str()), (ann.id, ann.name.as_str()));
            assert_eq!((note.created_at, note.read), (stored(5), false));
        }
        assert_eq!(repos.notifications.list(dan.id, page(1, 10)).await.unwrap().total, 0);
        assert_eq!(repos.notifications.list(ann.id, page(1, 10)).await.unwrap().total, 0);
    }

    /// Creating a post as published notifies at once; unfollowing stops it.
    async fn create_published_notifies(repos) {
        let ann = user(&repos, "ann@example.com").await;
        let bob = user(&repos, "bob@example.com").await;
        repos.follows.follow(bob.id, ann.id).await.unwrap();
        let first = post(&repos, &ann, "One", PostStatus::Published, 1, &[]).await;
        repos.follows.unfollow(bob.id, ann.id).await.unwrap();
        post(&repos, &ann, "Two", PostStatus::Published, 2, &[]).await;
        let got = repos.notifications.list(bob.id, page(1, 10)).await.unwrap();
        assert_eq!(got.total, 1);
        assert_eq!(got.items[0].post_id, first.id);
    }

    /// Notifications come newest first, a page at a time, and are all
    /// marked read at once.
    async fn notifications_page_and_read(repos) {
        let ann = user(&repos, "ann@example.com").await;
        let bob = user(&repos, "bob@example.com").await;
        repos.follows.follow(bob.id, ann.id).await.unwrap();
        let mut titles = Vec::new();
        for n in 1..=5 {
            titles.push(post(&repos, &ann, &format!("Post {n}"), PostStatus::Published, n, &[]).await.title);
        }
        let first = repos.notifications.list(bob.id, page(1, 2)).await.unwrap();
        let third = repos.notifications.list(bob.id, page(3, 2)).await.unwrap();
        assert_eq!((first.total, third.total), (5, 5));
        let names = |items: &[app::data::Notification]| items.iter().map(|n| n.post_title.clone()).collect::<Vec<_>>();
        assert_eq!(names(&first.items), ["Post 5", "Post 4"]);
        assert_eq!(names(&third.items), ["Post 1"]);

        let unread = repos.notifications.list(bob.id, page(1, 10)).await.unwrap();
        assert!(unread.items.iter().all(|n| !n.read));
        repos.notifications.mark_all_read(bob.id).await.unwrap();
        let all = repos.notifications.list(bob.id, page(1, 10)).await.unwrap();
        assert_eq!((all.items.len(), all.total), (5, 5), "marking keeps them");
        assert!(all.items.iter().all(|n| n.read));
        repos.notifications.mark_all_read(ann.id).await.unwrap();
    }

    /// A notification shows only while its post is published: taking the
    /// post back to draft hides it (and its count), publishing shows it again.
    async fn notifications_of_drafts_are_hidden(repos) {
        let ann = user(&repos, "ann@example.com").await;
        let bob = user(&repos, "bob@example.com").await;
        repos.follows.follow(bob.id, ann.id).await.unwrap();
        let live = post(&repos, &ann, "Live", PostStatus::Published, 1, &[]).await;
        post(&repos, &ann, "Other", PostStatus::Published, 2, &[]).await;
        let status = |status, version, seconds| PostChange {
            status: Some(status),
            expected_version: Some(version),
            now: at(seconds),
            ..PostChange::default()
        };
        repos.posts.update(live.id, status(PostStatus::Draft, 1, 3)).await.unwrap();
        let got = repos.notifications.list(bob.id, page(1, 10)).await.unwrap();
        assert_eq!(got.total, 1);
        assert!(got.items.iter().all(|n| n.post_id != live.id));

        repos.posts.update(live.id, status(PostStatus::Published, 2, 4)).await.unwrap();
        let got = repos.notifications.list(bob.id, page(1, 10)).await.unwrap();
        assert_eq!(got.total, 2);
        assert_eq!(got.items[1].post_id, live.id);
    }
}
