//! Post writes: slugs, versions, cascading deletes, the content generation.

use app::data::{DataError, Generation, NewComment, PostChange, PostStatus};
use uuid::Uuid;

use super::harness::{at, new_post, page, post, public, stored, user};

both! {
    /// A post reads back as created, by id and by slug.
    async fn create_and_read(repos) {
        let ann = user(&repos, "ann@example.com").await;
        let draft = post(&repos, &ann, "First post", PostStatus::Draft, 1, &["rust", "db", "rust"]).await;
        assert_eq!(draft.slug, "first-post");
        assert_eq!(draft.tags, ["rust", "db"]);
        assert_eq!((draft.version, draft.comment_count), (1, 0));
        assert_eq!(draft.author.id, ann.id);
        assert_eq!(draft.author.name, ann.name);
        assert_eq!((draft.created_at, draft.updated_at, draft.published_at), (stored(1), stored(1), None));
        assert_eq!(repos.posts.by_id(draft.id).await.unwrap(), Some(draft.clone()));
        assert_eq!(repos.posts.by_slug("first-post").await.unwrap(), Some(draft));
        assert_eq!(repos.posts.by_slug("nope").await.unwrap(), None);

        let live = post(&repos, &ann, "Second", PostStatus::Published, 2, &[]).await;
        assert_eq!(live.published_at, Some(stored(2)));
    }

    /// Taken slugs get the first free suffix; similar slugs do not count.
    async fn slugs_are_suffixed(repos) {
        let ann = user(&repos, "ann@example.com").await;
        let mut slugs = Vec::new();
        for title in ["Hello", "Hello", "Hello world", "Hello"] {
            slugs.push(post(&repos, &ann, title, PostStatus::Draft, 1, &[]).await);
        }
        let names: Vec<_> = slugs.iter().map(|p| p.slug.as_str()).collect();
        assert_eq!(names, ["hello", "hello-2", "hello-world", "hello-3"]);
        repos.posts.delete(slugs[1].id).await.unwrap();
        assert_eq!(post(&repos, &ann, "Hello", PostStatus::Draft, 2, &[]).await.slug, "hello-2");
        assert_eq!(post(&repos, &ann, "Hello", PostStatus::Draft, 3, &[]).await.slug, "hello-4");
    }

    /// An update needs the current version, changes only what it names,
    /// and bumps the version.
    async fn update_checks_version(repos) {
        let ann = user(&repos, "ann@example.com").await;
        let draft = post(&repos, &ann, "Draft", PostStatus::Draft, 1, &["a", "b"]).await;
        let change = PostChange {
            title: Some("Renamed".into()),
            tags: Some(vec!["c".into(), "a".into()]),
            expected_version: Some(1),
            now: at(5),
            ..PostChange::default()
        };
        let stale = PostChange { expected_version: Some(0), ..change.clone() };
        let refused = repos.posts.update(draft.id, stale).await;
        assert!(matches!(refused, Err(DataError::VersionMismatch)), "{refused:?}");
        assert_eq!(repos.posts.by_id(draft.id).await.unwrap(), Some(draft.clone()));

        let updated = repos.posts.update(draft.id, change.clone()).await.unwrap();
        assert_eq!((updated.title.as_str(), updated.content.as_str()), ("Renamed", draft.content.as_str()));
        assert_eq!((updated.version, updated.updated_at, updated.slug.as_str()), (2, stored(5), "draft"));
        assert_eq!((updated.tags, updated.status), (vec!["c".to_owned(), "a".to_owned()], PostStatus::Draft));
        let again = repos.posts.update(draft.id, change.clone()).await;
        assert!(matches!(again, Err(DataError::VersionMismatch)), "{again:?}");
        let missing = repos.posts.update(Uuid::now_v7(), change).await;
        assert!(matches!(missing, Err(DataError::NotFound)), "{missing:?}");
    }

    /// Deleting a post takes its tags, comments and notifications along.
    async fn delete_cascades(repos) {
        let ann = user(&repos, "ann@example.com").await;
        let bob = user(&repos, "bob@example.com").await;
        repos.follows.follow(bob.id, ann.id).await.unwrap();
        let live = post(&repos, &ann, "Live", PostStatus::Published, 1, &["gone"]).await;
        let comment = NewComment {
            id: Uuid::now_v7(),
            post_id: live.id,
            content: "Nice".into(),
            author_id: bob.id,
            created_at: at(2),
        };
        repos.comments.create(comment.clone()).await.unwrap();
        assert_eq!(repos.notifications.list(bob.id, page(1, 10)).await.unwrap().total, 1);

        repos.posts.delete(live.id).await.unwrap();
        assert_eq!(repos.posts.by_id(live.id).await.unwrap(), None);
        assert_eq!(repos.comments.by_id(comment.id).await.unwrap(), None);
        assert_eq!(repos.notifications.list(bob.id, page(1, 10)).await.unwrap().total, 0);
        assert!(repos.posts.tag_counts().await.unwrap().is_empty());
        let again = repos.posts.delete(live.id).await;
        assert!(matches!(again, Err(DataError::NotFound)), "{again:?}");
    }

    /// Without an expected version, an update applies to whatever version
    /// is current; concurrent ones all apply, one after the other.
    async fn update_without_version_applies_to_the_current_one(repos) {
        let ann = user(&repos, "ann@example.com").await;
        let draft = post(&repos, &ann, "Draft", PostStatus::Draft, 1, &[]).await;
        let change = |n: i64| PostChange { title: Some(format!("Title {n}")), now: at(n), ..PostChange::default() };
        let mut edits = tokio::task::JoinSet::new();
        for n in 2..10 {
            let (repos, change) = (repos.clone(), change(n));
            edits.spawn(async move { repos.posts.update(draft.id, change).await });
        }
        for edit in edits.join_all().await {
            edit.expect("every edit applies");
        }
        assert_eq!(repos.posts.by_id(draft.id).await.unwrap().unwrap().version, 9);
    }

    /// Every write to posts, tags or comments changes the generation; reads
    /// and refused writes do not.
    async fn generation_bumps_on_writes(repos) {
        let ann = user(&repos, "ann@example.com").await;
        let generation = || async { repos.generation.current().await.unwrap() };
        let mut last = generation().await;
        let mut bumped = |now: Generation| {
            let changed = now != last;
            last = now;
            changed
        };
        let draft = repos.posts.create(new_post(&ann, "Gen", PostStatus::Draft, 1)).await.unwrap();
        assert!(bumped(generation().await), "create");
        repos.posts.list(&public()).await.unwrap();
        repos.posts.by_id(draft.id).await.unwrap();
        assert!(!bumped(generation().await), "reads");
        let stale = PostChange { expected_version: Some(9), now: at(2), ..PostChange::default() };
        repos.posts.update(draft.id, stale).await.unwrap_err();
        assert!(!bumped(generation().await), "refused update");
        let comment = NewComment { id: Uuid::now_v7(), post_id: draft.id, content: "c".into(), author_id: ann.id, created_at: at(3) };
        repos.comments.create(comment.clone()).await.unwrap_err();
        assert!(!bumped(generation().await), "refused comment on a draft");
        let change = PostChange { tags: Some(vec!["t".into()]), status: Some(PostStatus::Published), first_publish: Some(at(2)), expected_version: Some(1), now: at(2), ..PostChange::default() };
        repos.posts.update(draft.id, change).await.unwrap();
        assert!(bumped(generation().await), "update");
        repos.comments.create(comment.clone()).await.unwrap();
        assert!(bumped(generation().await), "comment");
        repos.comments.delete(comment.id).await.unwrap();
        assert!(bumped(generation().await), "comment delete");
        repos.posts.delete(draft.id).await.unwrap();
        assert!(bumped(generation().await), "delete");
    }
}
