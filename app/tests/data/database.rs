//! The database as a whole: connecting by URL, migrating, health, pools;
//! and several pools on one database, standing in for several worker
//! processes, migrating at the same moment and writing at the same time.

use std::collections::HashSet;

use app::data::{DataError, PostQuery, PostStatus, Repositories, connect};
use tokio::task::JoinSet;

use super::harness::{PgSchema, new_post, page, public, sqlite_url, user};

/// Pools opened at once on a database that is not migrated yet.
const MIGRATORS: usize = 6;

/// Tasks per pool, and posts each task creates.
const TASKS: usize = 4;
const POSTS_PER_TASK: usize = 50;

/// Opens `MIGRATORS` pools on `url` and migrates through all at once.
async fn migrate_at_once(url: &str) {
    let mut starts = JoinSet::new();
    for _ in 0..MIGRATORS {
        let url = url.to_owned();
        starts.spawn(async move {
            let repos = connect(&url).await.expect("connect");
            repos.database.migrate().await.expect("migrate");
            repos
        });
    }
    let pools = starts.join_all().await;
    let ann = user(&pools[0], "ann@example.com").await;
    for repos in &pools {
        assert_eq!(repos.users.by_id(ann.id).await.unwrap(), Some(ann.clone()));
    }
}

/// Concurrent migrations of one fresh SQLite file all succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_migrates_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    migrate_at_once(&sqlite_url(&dir)).await;
}

/// Concurrent migrations of one fresh PostgreSQL schema all succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_migrates_concurrently() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let outcome = tokio::spawn({
        let url = schema.url();
        async move { migrate_at_once(&url).await }
    })
    .await;
    schema.drop().await;
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

both! {
    /// Two pools create posts with one slug base from several tasks each:
    /// no write fails, every slug is distinct, both pools see every post.
    async fn two_pools_write_concurrently(repos, url) {
        let other = connect(&url).await.unwrap();
        let ann = user(&repos, "ann@example.com").await;
        let before = repos.generation.current().await.unwrap();
        let mut writers = JoinSet::new();
        for pool in [&repos, &other] {
            for _ in 0..TASKS {
                let (pool, ann) = (Repositories::clone(pool), ann.clone());
                writers.spawn(async move {
                    for n in 0..POSTS_PER_TASK {
                        let status = if n % 2 == 0 { PostStatus::Published } else { PostStatus::Draft };
                        pool.posts.create(new_post(&ann, "Load", status, 1)).await?;
                    }
                    Ok::<_, DataError>(())
                });
            }
        }
        for outcome in writers.join_all().await {
            outcome.expect("every write succeeds");
        }
        let everything = PostQuery { all_drafts: true, page: page(1, 100), ..public() };
        let expected = 2 * TASKS * POSTS_PER_TASK;
        for pool in [&repos, &other] {
            assert_eq!(pool.posts.list(&everything).await.unwrap().total, expected as u64);
        }
        let mut slugs = HashSet::new();
        for n in 1..=expected.div_ceil(100) {
            let query = PostQuery { page: page(u32::try_from(n).unwrap(), 100), ..everything.clone() };
            slugs.extend(other.posts.list(&query).await.unwrap().items.into_iter().map(|p| p.slug));
        }
        assert_eq!(slugs.len(), expected);
        assert_ne!(other.generation.current().await.unwrap(), before);
    }
}

both! {
    /// A migrated database answers pings, names the backend its URL chose,
    /// reports its pool, starts at a random content generation (so databases
    /// sharing a cache differ), and migrating again changes nothing.
    async fn ping_and_migrate_again(repos, url) {
        repos.database.ping().await.unwrap();
        let backend = repos.database.backend();
        assert!(url.starts_with(backend), "{backend} for {url}");
        let usage = repos.database.pool_usage();
        assert!(usage.size >= 1 && usage.idle <= usage.size, "{usage:?}");
        let generation = repos.generation.current().await.unwrap();
        assert_ne!(generation.to_string(), "0.0", "a fresh database starts at a random generation");
        repos.database.migrate().await.unwrap();
        assert_eq!(repos.generation.current().await.unwrap(), generation);
    }
}

/// An unknown scheme is refused with a message naming it.
#[tokio::test]
async fn unknown_scheme_is_named() {
    let Err(refused) = connect("mysql://root@localhost/app").await else {
        panic!("mysql is not a supported backend");
    };
    assert!(
        matches!(refused, DataError::UnsupportedScheme { .. }),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("`mysql`"), "{refused}");
}

/// `sqlite:` creates the file and the folders above it.
#[tokio::test]
async fn sqlite_creates_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data/nested/app.db");
    let repos = connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    repos.database.ping().await.unwrap();
    assert!(file.exists());
    assert_eq!(repos.database.backend(), "sqlite");
}

both! {
    /// While other pools read the generation without pause (so a read is
    /// always in flight), every read that starts after a write returns a
    /// generation other than the one before the write, on another pool too.
    async fn the_generation_after_a_write_is_never_the_one_before(repos, url) {
        let other = connect(&url).await.unwrap();
        let ann = user(&repos, "ann@example.com").await;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut readers = JoinSet::new();
        for pool in [&repos, &other, &repos, &other] {
            let (generation, stop) = (pool.generation.clone(), stop.clone());
            readers.spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    generation.current().await.unwrap();
                    // SQLite's is ready at once: let the writer run.
                    tokio::task::yield_now().await;
                }
            });
        }
        for n in 0..100 {
            let before = repos.generation.current().await.unwrap();
            repos.posts.create(new_post(&ann, "Gen", PostStatus::Published, n)).await.unwrap();
            let (mine, theirs) = tokio::join!(repos.generation.current(), other.generation.current());
            assert_ne!(mine.unwrap(), before, "write {n}, same pool");
            assert_ne!(theirs.unwrap(), before, "write {n}, another pool");
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        readers.join_all().await;
    }
}
