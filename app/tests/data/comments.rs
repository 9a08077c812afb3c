//! Comments: creation, pages oldest first, counts, deletion.

use app::data::{DataError, NewComment, PostChange, PostStatus, Repositories};
use uuid::Uuid;

use super::harness::{at, page, post, stored, user};

/// A comment by `author` on `post` at `at(seconds)`.
fn comment(post: Uuid, author: Uuid, seconds: i64) -> NewComment {
    NewComment {
        id: Uuid::now_v7(),
        post_id: post,
        content: format!("Comment at {seconds}"),
        author_id: author,
        created_at: at(seconds),
    }
}

/// How many comments the post says it has.
async fn count(repos: &Repositories, post: Uuid) -> u64 {
    repos
        .posts
        .by_id(post)
        .await
        .unwrap()
        .unwrap()
        .comment_count
}

both! {
    /// Comments read back with their author, oldest first, a page at a time.
    async fn create_list_delete(repos) {
        let ann = user(&repos, "ann@example.com").await;
        let bob = user(&repos, "bob@example.com").await;
        let live = post(&repos, &ann, "Live", PostStatus::Published, 1, &[]).await;
        let first = repos.comments.create(comment(live.id, bob.id, 3)).await.unwrap();
        assert_eq!((first.post_id, first.author.id, first.author.name.as_str()), (live.id, bob.id, bob.name.as_str()));
        assert_eq!((first.content.as_str(), first.created_at), ("Comment at 3", stored(3)));
        assert_eq!(repos.comments.by_id(first.id).await.unwrap(), Some(first.clone()));
        for seconds in [4, 2] {
            repos.comments.create(comment(live.id, ann.id, seconds)).await.unwrap();
        }
        assert_eq!(count(&repos, live.id).await, 3);

        let one = repos.comments.list(live.id, page(1, 2)).await.unwrap();
        let two = repos.comments.list(live.id, page(2, 2)).await.unwrap();
        let times: Vec<_> = one.items.iter().chain(&two.items).map(|c| c.created_at).collect();
        assert_eq!(times, [stored(2), stored(3), stored(4)]);
        assert_eq!((one.total, two.total), (3, 3));
        assert_eq!(repos.comments.list(Uuid::now_v7(), page(1, 2)).await.unwrap().total, 0);

        repos.comments.delete(first.id).await.unwrap();
        assert_eq!(repos.comments.by_id(first.id).await.unwrap(), None);
        assert_eq!(count(&repos, live.id).await, 2);
        let again = repos.comments.delete(first.id).await;
        assert!(matches!(again, Err(DataError::NotFound)), "{again:?}");
    }

    /// Only a published post takes comments, checked in the insert itself:
    /// a draft, or a post switched back to draft after the service looked
    /// at it, is `NotFound` and nothing is stored.
    async fn comments_only_on_published_posts(repos) {
        let ann = user(&repos, "ann@example.com").await;
        let draft = post(&repos, &ann, "Draft", PostStatus::Draft, 1, &[]).await;
        let refused = repos.comments.create(comment(draft.id, ann.id, 2)).await;
        assert!(matches!(refused, Err(DataError::NotFound)), "{refused:?}");

        let live = post(&repos, &ann, "Live", PostStatus::Published, 1, &[]).await;
        repos.comments.create(comment(live.id, ann.id, 2)).await.unwrap();
        let unpublish = PostChange { status: Some(PostStatus::Draft), now: at(3), ..PostChange::default() };
        repos.posts.update(live.id, unpublish).await.unwrap();
        let refused = repos.comments.create(comment(live.id, ann.id, 4)).await;
        assert!(matches!(refused, Err(DataError::NotFound)), "{refused:?}");
        assert_eq!((count(&repos, draft.id).await, count(&repos, live.id).await), (0, 1));
    }

    /// A comment on a post that does not exist is `NotFound`.
    async fn comment_on_missing_post(repos) {
        let ann = user(&repos, "ann@example.com").await;
        let refused = repos.comments.create(comment(Uuid::now_v7(), ann.id, 1)).await;
        assert!(matches!(refused, Err(DataError::NotFound)), "{refused:?}");
    }
}
