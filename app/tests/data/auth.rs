//! Sessions (expiry, revocation) and the failed-login throttle.

use app::data::{DataError, NewSession};
use chrono::Duration;
use uuid::Uuid;

use super::harness::{at, stored, user};

/// The throttle settings the tests use: 3 failures within 60 s lock for 300 s.
const WINDOW: i64 = 60;
const MAX: u32 = 3;
const LOCK: i64 = 300;

/// Records a failure of `key` at `at(seconds)`.
async fn fail(
    repos: &app::data::Repositories,
    key: &str,
    seconds: i64,
) -> Option<chrono::DateTime<chrono::Utc>> {
    repos
        .login_throttle
        .record_failure(
            key,
            at(seconds),
            Duration::seconds(WINDOW),
            MAX,
            Duration::seconds(LOCK),
        )
        .await
        .unwrap()
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

    /// The third failure within the window locks the key; failures while
    /// locked change nothing; the lock ends on time and counting restarts.
    async fn throttle_locks_and_expires(repos) {
        assert_eq!(fail(&repos, "ann", 0).await, None);
        assert_eq!(fail(&repos, "ann", 1).await, None);
        assert_eq!(repos.login_throttle.locked_until("ann", at(2)).await.unwrap(), None);
        assert_eq!(fail(&repos, "ann", 2).await, Some(stored(2 + LOCK)));
        let locked = repos.login_throttle.locked_until("ann", at(3)).await.unwrap();
        assert_eq!(locked, Some(stored(2 + LOCK)));
        assert_eq!(repos.login_throttle.locked_until("bob", at(3)).await.unwrap(), None);

        assert_eq!(fail(&repos, "ann", 10).await, None);
        let locked = repos.login_throttle.locked_until("ann", at(11)).await.unwrap();
        assert_eq!(locked, Some(stored(2 + LOCK)));
        assert_eq!(repos.login_throttle.locked_until("ann", at(2 + LOCK)).await.unwrap(), None);

        assert_eq!(fail(&repos, "ann", 3 + LOCK).await, None);
        assert_eq!(fail(&repos, "ann", 4 + LOCK).await, None);
        assert!(fail(&repos, "ann", 5 + LOCK).await.is_some());
    }

    /// Failures older than the window are forgotten.
    async fn throttle_window_slides(repos) {
        assert_eq!(fail(&repos, "ann", 0).await, None);
        assert_eq!(fail(&repos, "ann", 1).await, None);
        assert_eq!(fail(&repos, "ann", WINDOW + 1).await, None);
        assert_eq!(fail(&repos, "ann", WINDOW + 2).await, None);
        assert_eq!(fail(&repos, "ann", WINDOW + 3).await, Some(stored(WINDOW + 3 + LOCK)));
    }

    /// A reset forgets the failures and lifts a lock.
    async fn throttle_resets(repos) {
        fail(&repos, "ann", 0).await;
        fail(&repos, "ann", 1).await;
        repos.login_throttle.reset("ann").await.unwrap();
        assert_eq!(fail(&repos, "ann", 2).await, None);
        assert_eq!(fail(&repos, "ann", 3).await, None);
        assert!(fail(&repos, "ann", 4).await.is_some());
        repos.login_throttle.reset("ann").await.unwrap();
        assert_eq!(repos.login_throttle.locked_until("ann", at(5)).await.unwrap(), None);
        repos.login_throttle.reset("never-failed").await.unwrap();
    }
}
