//! Listing posts: visibility, filters, search, pages, excerpts, tag counts.

use app::data::{PostQuery, PostStatus, Repositories, TagCount};

use super::harness::{new_post, page, post, public, user};

/// The titles a query lists, in order, and the total.
async fn titles(repos: &Repositories, query: PostQuery) -> (Vec<String>, u64) {
    let got = repos.posts.list(&query).await.unwrap();
    (got.items.into_iter().map(|p| p.title).collect(), got.total)
}

/// `(titles, total)` as expected.
fn listed(names: &[&str], total: u64) -> (Vec<String>, u64) {
    (names.iter().map(|n| (*n).to_owned()).collect(), total)
}

both! {
    /// Readers see published posts, their own drafts when asking with
    /// `drafts_of`, admins everything; filters apply on top.
    async fn visibility_and_filters(repos) {
        let ann = user(&repos, "ann@example.com").await;
        let bob = user(&repos, "bob@example.com").await;
        post(&repos, &ann, "Ann live", PostStatus::Published, 1, &["rust"]).await;
        post(&repos, &ann, "Ann draft", PostStatus::Draft, 2, &["rust"]).await;
        post(&repos, &bob, "Bob live", PostStatus::Published, 3, &["rust", "db"]).await;
        post(&repos, &bob, "Bob draft", PostStatus::Draft, 4, &[]).await;
        let mine = PostQuery { drafts_of: Some(ann.id), ..public() };
        let admin = PostQuery { all_drafts: true, ..public() };

        assert_eq!(titles(&repos, public()).await, listed(&["Bob live", "Ann live"], 2));
        assert_eq!(titles(&repos, mine.clone()).await, listed(&["Bob live", "Ann draft", "Ann live"], 3));
        assert_eq!(titles(&repos, admin.clone()).await.1, 4);
        let drafts = PostQuery { status: Some(PostStatus::Draft), ..mine.clone() };
        assert_eq!(titles(&repos, drafts.clone()).await, listed(&["Ann draft"], 1));
        let no_drafts = PostQuery { drafts_of: None, ..drafts.clone() };
        assert_eq!(titles(&repos, no_drafts).await, listed(&[], 0));
        let all_drafts = PostQuery { all_drafts: true, ..drafts };
        assert_eq!(titles(&repos, all_drafts).await, listed(&["Bob draft", "Ann draft"], 2));
        let by_ann = PostQuery { author: Some(ann.id), ..public() };
        assert_eq!(titles(&repos, by_ann).await, listed(&["Ann live"], 1));
        let own = PostQuery { author: Some(ann.id), ..mine };
        assert_eq!(titles(&repos, own).await, listed(&["Ann draft", "Ann live"], 2));
        let rust = PostQuery { tag: Some("rust".into()), ..public() };
        assert_eq!(titles(&repos, rust).await, listed(&["Bob live", "Ann live"], 2));
        let db = PostQuery { tag: Some("db".into()), ..admin };
        assert_eq!(titles(&repos, db).await, listed(&["Bob live"], 1));
    }

    /// Search is a case-insensitive substring of title or content, with
    /// LIKE's wildcards taken literally.
    async fn search_escapes_wildcards(repos) {
        let ann = user(&repos, "ann@example.com").await;
        for (seconds, title, content) in [
            (1, "Hello World", "plain words"),
            (2, "100% pure", "no wildcards"),
            (3, "snake_case names", "underscores"),
            (4, "Paths", r"a back\slash here"),
        ] {
            let mut new = new_post(&ann, title, PostStatus::Published, seconds);
            new.content = content.into();
            repos.posts.create(new).await.unwrap();
        }
        let search = |needle: &str| PostQuery { search: Some(needle.into()), ..public() };
        assert_eq!(titles(&repos, search("hello")).await, listed(&["Hello World"], 1));
        assert_eq!(titles(&repos, search("WORDS")).await, listed(&["Hello World"], 1));
        assert_eq!(titles(&repos, search("%")).await, listed(&["100% pure"], 1));
        assert_eq!(titles(&repos, search("e_c")).await, listed(&["snake_case names"], 1));
        assert_eq!(titles(&repos, search("_")).await, listed(&["snake_case names"], 1));
        assert_eq!(titles(&repos, search(r"\")).await, listed(&["Paths"], 1));
        assert_eq!(titles(&repos, search("xyz")).await, listed(&[], 0));
    }

    /// Case folding as documented: ASCII on both backends, every script on
    /// PostgreSQL only (SQLite's `LIKE` folds ASCII letters alone).
    async fn search_folds_case_as_documented(repos) {
        let ann = user(&repos, "ann@example.com").await;
        post(&repos, &ann, "Rust in été", PostStatus::Published, 1, &[]).await;
        let search = |needle: &str| PostQuery { search: Some(needle.into()), ..public() };
        assert_eq!(titles(&repos, search("RUST")).await.1, 1);
        assert_eq!(titles(&repos, search("été")).await.1, 1);
        let unicode_folded = titles(&repos, search("ÉTÉ")).await.1 == 1;
        assert_eq!(unicode_folded, repos.database.backend() == "postgres");
    }

    /// Pages of newest-first posts, the total on each; equal times are
    /// ordered by id, newest first.
    async fn pages_and_totals(repos) {
        let ann = user(&repos, "ann@example.com").await;
        for n in 1..=5 {
            post(&repos, &ann, &format!("P{n}"), PostStatus::Published, n.min(4), &[]).await;
        }
        let at_page = |n| PostQuery { page: page(n, 2), ..public() };
        assert_eq!(titles(&repos, at_page(1)).await, listed(&["P5", "P4"], 5));
        assert_eq!(titles(&repos, at_page(2)).await, listed(&["P3", "P2"], 5));
        assert_eq!(titles(&repos, at_page(3)).await, listed(&["P1"], 5));
        assert_eq!(titles(&repos, at_page(4)).await, listed(&[], 5));
    }

    /// Excerpts keep the first 200 characters and mark the cut.
    async fn excerpts(repos) {
        let ann = user(&repos, "ann@example.com").await;
        let mut long = new_post(&ann, "Long", PostStatus::Published, 1);
        long.content = format!("{}{}", "é".repeat(199), " ünd more");
        repos.posts.create(long).await.unwrap();
        let mut short = new_post(&ann, "Short", PostStatus::Published, 2);
        short.content = "ß".repeat(200);
        repos.posts.create(short).await.unwrap();
        let got = repos.posts.list(&public()).await.unwrap().items;
        assert_eq!(got[0].excerpt, "ß".repeat(200));
        assert_eq!(got[1].excerpt, format!("{}…", "é".repeat(199)));
    }

    /// Tag counts cover published posts only, most used first, then by name.
    async fn tag_counts(repos) {
        let ann = user(&repos, "ann@example.com").await;
        post(&repos, &ann, "One", PostStatus::Published, 1, &["b", "a"]).await;
        post(&repos, &ann, "Two", PostStatus::Published, 2, &["c", "b"]).await;
        post(&repos, &ann, "Three", PostStatus::Draft, 3, &["c", "c2", "d"]).await;
        let counts = repos.posts.tag_counts().await.unwrap();
        let expected = [("b", 2), ("a", 1), ("c", 1)].map(|(name, post_count)| TagCount { name: name.into(), post_count });
        assert_eq!(counts, expected);
    }
}
