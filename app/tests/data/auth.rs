//! Sessions (expiry, revocation) and the failed-login throttle.

use app::data::{DataError, NewSession, Repositories, ThrottleLimits};
use chrono::{DateTime, Duration, Utc};
use sqlx::{Connection as _, PgConnection, SqliteConnection};
use uuid::Uuid;

use super::harness::{at, stored, user};

/// The throttle settings the tests use: 3 failures within 60 s lock for 300 s.
const WINDOW: i64 = 60;
const MAX: u32 = 3;
const LOCK: i64 = 300;

/// The throttle settings the tests use.
fn limits() -> ThrottleLimits {
    ThrottleLimits {
        window: Duration::seconds(WINDOW),
        max_failures: MAX,
        lock: Duration::seconds(LOCK),
    }
}

/// Reserves an attempt of `key` at `at(seconds)`: the lock's end if refused.
async fn reserve(repos: &Repositories, key: &str, seconds: i64) -> Option<DateTime<Utc>> {
    let throttle = &repos.login_throttle;
    throttle.reserve(key, at(seconds), limits()).await.unwrap()
}

/// A reserved attempt of `key` fails at `at(seconds)`.
async fn failed(repos: &Repositories, key: &str, seconds: i64) -> Option<DateTime<Utc>> {
    let throttle = &repos.login_throttle;
    throttle
        .record_failure(key, at(seconds), limits())
        .await
        .unwrap()
}

/// An attempt of `key` at `at(seconds)` that fails: the lock's end if it
/// was refused or locked the key.
async fn fail(repos: &Repositories, key: &str, seconds: i64) -> Option<DateTime<Utc>> {
    match reserve(repos, key, seconds).await {
        Some(end) => Some(end),
        None => failed(repos, key, seconds).await,
    }
}

/// A reserved attempt of `key` succeeds at `at(seconds)`: the lock's end if
/// the key is locked after all.
async fn succeed(repos: &Repositories, key: &str, seconds: i64) -> Option<DateTime<Utc>> {
    repos
        .login_throttle
        .succeed(key, at(seconds))
        .await
        .unwrap()
}

/// Every stored throttle key, in order, read with plain SQL.
async fn stored_keys(url: &str) -> Vec<String> {
    let sql = "SELECT throttle_key FROM login_throttle ORDER BY throttle_key";
    if url.starts_with("sqlite:") {
        let mut conn = SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
    } else {
        let mut conn = PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
    }
}

both! {
    /// A session finds its user until it expires, and not after revocation.
    async fn sessions_expire_and_revoke(repos) {
        let ann = user(&repos, "ann@example.com").await;
        let hash = vec![7_u8; 32];
        let session = NewSession {
            token_hash: hash.clone(),
            user_id: ann.id,
            created_at: at(0),
            expires_at: at(100),
        };
        repos.sessions.create(session.clone()).await.unwrap();
        assert_eq!(repos.sessions.user_for(&hash, at(99)).await.unwrap(), Some(ann.clone()));
        assert_eq!(repos.sessions.user_for(&hash, at(100)).await.unwrap(), None);
        assert_eq!(repos.sessions.user_for(&[8; 32], at(1)).await.unwrap(), None);

        assert!(repos.sessions.revoke(&hash).await.unwrap());
        assert_eq!(repos.sessions.user_for(&hash, at(1)).await.unwrap(), None);
        assert!(!repos.sessions.revoke(&hash).await.unwrap());

        let orphan = NewSession { user_id: Uuid::now_v7(), ..session };
        let refused = repos.sessions.create(orphan).await;
        assert!(matches!(refused, Err(DataError::NotFound)), "{refused:?}");
    }

    /// The third failure within the window locks the key; attempts while
    /// locked are refused and change nothing; the lock ends on time and
    /// counting restarts.
    async fn throttle_locks_and_expires(repos) {
        assert_eq!(fail(&repos, "ann", 0).await, None);
        assert_eq!(fail(&repos, "ann", 1).await, None);
        assert_eq!(fail(&repos, "ann", 2).await, Some(stored(2 + LOCK)));
        assert_eq!(reserve(&repos, "ann", 3).await, Some(stored(2 + LOCK)));
        assert_eq!(reserve(&repos, "bob", 3).await, None);

        assert_eq!(fail(&repos, "ann", 10).await, Some(stored(2 + LOCK)));
        assert_eq!(succeed(&repos, "ann", 11).await, Some(stored(2 + LOCK)));
        assert_eq!(reserve(&repos, "ann", 2 + LOCK).await, None);
        assert_eq!(failed(&repos, "ann", 2 + LOCK).await, None);

        assert_eq!(fail(&repos, "ann", 3 + LOCK).await, None);
        assert!(fail(&repos, "ann", 4 + LOCK).await.is_some());
    }

    /// Attempts are counted before the password is checked: of many at
    /// once, only `MAX` may check it; the next one locks the key, and a
    /// right password checked meanwhile is refused too.
    async fn parallel_attempts_are_reserved(repos) {
        let attempts = (0..12).map(|_| {
            let repos = repos.clone();
            tokio::spawn(async move { reserve(&repos, "ann", 0).await })
        });
        let mut allowed = 0;
        for attempt in attempts.collect::<Vec<_>>() {
            match attempt.await.unwrap() {
                None => allowed += 1,
                Some(end) => assert_eq!(end, stored(LOCK)),
            }
        }
        assert_eq!(allowed, MAX);
        assert_eq!(failed(&repos, "ann", 1).await, None, "locked already");
        assert_eq!(succeed(&repos, "ann", 1).await, Some(stored(LOCK)));
        assert_eq!(reserve(&repos, "ann", 2).await, Some(stored(LOCK)));
    }

    /// Failures older than the window are forgotten.
    async fn throttle_window_slides(repos) {
        assert_eq!(fail(&repos, "ann", 0).await, None);
        assert_eq!(fail(&repos, "ann", 1).await, None);
        assert_eq!(fail(&repos, "ann", WINDOW + 1).await, None);
        assert_eq!(fail(&repos, "ann", WINDOW + 2).await, None);
        assert_eq!(fail(&repos, "ann", WINDOW + 3).await, Some(stored(WINDOW + 3 + LOCK)));
    }

    /// A success forgets the failures, but does not lift a lock.
    async fn throttle_resets(repos) {
        fail(&repos, "ann", 0).await;
        fail(&repos, "ann", 1).await;
        assert_eq!(reserve(&repos, "ann", 2).await, None);
        assert_eq!(succeed(&repos, "ann", 2).await, None);
        assert_eq!(fail(&repos, "ann", 2).await, None);
        assert_eq!(fail(&repos, "ann", 3).await, None);
        assert!(fail(&repos, "ann", 4).await.is_some());
        assert!(succeed(&repos, "ann", 5).await.is_some());
        assert!(reserve(&repos, "ann", 5).await.is_some());
        assert_eq!(succeed(&repos, "never-failed", 5).await, None);
        assert_eq!(failed(&repos, "never-reserved", 5).await, None);
    }

    /// Every attempt deletes records that expired (window over, not
    /// locked), so made-up emails do not pile up; live ones stay.
    async fn expired_records_are_swept(repos, url) {
        fail(&repos, "old", 0).await;
        for _ in 0..MAX {
            fail(&repos, "locked", 0).await;
        }
        fail(&repos, "recent", 30).await;
        assert_eq!(stored_keys(&url).await, ["locked", "old", "recent"]);
        assert_eq!(reserve(&repos, "new", WINDOW + 1).await, None);
        assert_eq!(stored_keys(&url).await, ["locked", "new", "recent"]);
        assert_eq!(reserve(&repos, "new", LOCK + 1).await, None);
        assert_eq!(stored_keys(&url).await, ["new"]);
    }
}
