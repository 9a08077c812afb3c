//! The login flow's guarantees: throttling decisions, and that every way a
//! login can fail costs exactly one password verification, the same as a
//! success (so response time does not tell whether an email is registered).

use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::Params;
use sqlx::Connection as _;

use super::*;
use crate::business::passwords::{Argon2id, Kdf};

/// argon2id with cheap parameters that counts its runs.
struct Counting {
    inner: Argon2id,
    hashes: AtomicUsize,
    verifications: AtomicUsize,
}

impl Kdf for Counting {
    fn hash(&self, password: &str) -> String {
        self.hashes.fetch_add(1, Ordering::SeqCst);
        self.inner.hash(password)
    }
    fn verify(&self, password: &str, stored: &str) -> bool {
        self.verifications.fetch_add(1, Ordering::SeqCst);
        self.inner.verify(password, stored)
    }
    fn decoy(&self) -> String {
        self.inner.decoy()
    }
}

impl Counting {
    /// (hashes, verifications) since the last call.
    fn take(&self) -> (usize, usize) {
        (
            self.hashes.swap(0, Ordering::SeqCst),
            self.verifications.swap(0, Ordering::SeqCst),
        )
    }
}

/// An auth service over a fresh SQLite file with a counting KDF, and Ann
/// registered (password "correct horse"). Keep the dir alive.
async fn service(max_failures: u32) -> (AuthService, Arc<Counting>, tempfile::TempDir) {
    service_within(max_failures, crate::business::HashLimits::new(2)).await
}

/// As [`service`], with the hasher's slots limited by `limits`.
async fn service_within(
    max_failures: u32,
    limits: crate::business::HashLimits,
) -> (AuthService, Arc<Counting>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/app.db", dir.path().display());
    let repos = crate::data::connect(&url).await.unwrap();
    repos.database.migrate().await.unwrap();
    let kdf = Arc::new(Counting {
        inner: Argon2id::new(Params::new(64, 1, 1, None).unwrap()),
        hashes: AtomicUsize::new(0),
        verifications: AtomicUsize::new(0),
    });
    let policy = LoginPolicy {
        max_failures,
        window: Duration::from_secs(60),
        lock: Duration::from_secs(60),
    };
    let hasher = PasswordHasher::with_kdf(kdf.clone(), limits);
    let auth = AuthService::new(&repos, hasher, policy, Duration::from_secs(60));
    let registration = Registration {
        email: "ann@example.org".into(),
        name: "Ann".into(),
        password: "correct horse".into(),
    };
    auth.register(registration).await.unwrap();
    assert_eq!(kdf.take(), (1, 0), "registering hashes once");
    (auth, kdf, dir)
}

#[tokio::test]
async fn every_login_outcome_costs_one_verification() {
    let (auth, kdf, _dir) = service(100).await;
    let overlong = "x".repeat(validate::PASSWORD_LEN.1 + 1);
    for (email, password) in [
        ("nobody@example.org", "correct horse"),
        ("nobody-else@example.org", "another guess"),
        ("ann@example.org", "wrong horse"),
        ("ANN@example.org ", "wrong horse"),
        ("ann@example.org", overlong.as_str()),
        ("", ""),
    ] {
        let refused = auth.login(email, password.into()).await;
        assert!(
            matches!(refused, Err(ServiceError::InvalidCredentials)),
            "{email:?}: {refused:?}"
        );
        assert_eq!(kdf.take(), (0, 1), "{email:?} with {password:?}");
    }
    auth.login("ann@example.org", "correct horse".into())
        .await
        .unwrap();
    assert_eq!(kdf.take(), (0, 1), "a success costs the same");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_logins_check_at_most_max_failures_passwords() {
    let (auth, kdf, _dir) = service(3).await;
    let auth = Arc::new(auth);
    let attempts: Vec<_> = (0..12)
        .map(|_| {
            let auth = Arc::clone(&auth);
            tokio::spawn(async move { auth.login("ann@example.org", "wrong".into()).await })
        })
        .collect();
    let (mut refused, mut throttled) = (0, 0);
    for attempt in attempts {
        match attempt.await.unwrap() {
            Err(ServiceError::InvalidCredentials) => refused += 1,
            Err(ServiceError::TooManyAttempts { .. }) => throttled += 1,
            other => panic!("{other:?}"),
        }
    }
    let (_, verified) = kdf.take();
    assert!(verified <= 3, "{verified} passwords checked");
    assert!(refused <= 3, "{refused} answered 401");
    assert_eq!(refused + throttled, 12);
    let right = auth.login("ann@example.org", "correct horse".into()).await;
    assert!(
        matches!(right, Err(ServiceError::TooManyAttempts { .. })),
        "{right:?}"
    );
}

#[tokio::test]
async fn a_login_refused_as_busy_does_not_count_against_the_account() {
    let limits = crate::business::HashLimits {
        max_wait: Duration::from_millis(50),
        ..crate::business::HashLimits::new(1)
    };
    let (auth, _kdf, _dir) = service_within(1, limits).await;
    let held = auth.hasher.slot().await.unwrap();
    for _ in 0..3 {
        let busy = auth.login("ann@example.org", "wrong".into()).await;
        assert!(matches!(busy, Err(ServiceError::Busy { .. })), "{busy:?}");
    }
    drop(held);
    auth.login("ann@example.org", "correct horse".into())
        .await
        .expect("busy refusals are not failed attempts");
}

#[tokio::test]
async fn impossible_emails_are_unknown_accounts_and_not_counted() {
    let (auth, kdf, dir) = service(3).await;
    let long = format!("{}@example.org", "a".repeat(validate::EMAIL_MAX));
    for email in [long.as_str(), "ann@example.org\0", "an\u{7}n@example.org"] {
        for _ in 0..5 {
            let refused = auth.login(email, "wrong".into()).await;
            assert!(
                matches!(refused, Err(ServiceError::InvalidCredentials)),
                "{refused:?}"
            );
        }
        assert_eq!(kdf.take(), (0, 5), "a decoy check each time");
    }
    auth.login(" ANN@example.org", "wrong".into())
        .await
        .unwrap_err();
    let url = format!("sqlite://{}/app.db", dir.path().display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let keys: Vec<String> = sqlx::query_scalar("SELECT throttle_key FROM login_throttle")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let expected = format!("{:x}", Sha256::digest("ann@example.org"));
    assert_eq!(keys, [expected], "only the real attempt, by hash");
}

#[test]
fn throttle_decisions() {
    let now = Utc::now();
    assert_eq!(retry_after(None, now), None);
    assert_eq!(
        retry_after(Some(now), now),
        None,
        "a lock ending now is over"
    );
    assert_eq!(
        retry_after(Some(now - chrono::Duration::seconds(5)), now),
        None
    );
    let later = now + chrono::Duration::milliseconds(1500);
    assert_eq!(retry_after(Some(later), now), Some(Duration::from_secs(2)));
    let later = now + chrono::Duration::minutes(15);
    assert_eq!(
        retry_after(Some(later), now),
        Some(Duration::from_secs(900))
    );
    let soon = now + chrono::Duration::nanoseconds(1);
    assert_eq!(retry_after(Some(soon), now), Some(Duration::from_secs(1)));
}
