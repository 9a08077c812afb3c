//! The login flow's guarantees: throttling decisions, and that every way a
//! login can fail costs exactly one password verification, the same as a
//! success (so response time does not tell whether an email is registered).

use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::Params;

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

#[tokio::test]
async fn every_login_outcome_costs_one_verification() {
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
        max_failures: 100,
        window: Duration::from_secs(60),
        lock: Duration::from_secs(60),
    };
    let hasher = PasswordHasher::with_kdf(kdf.clone(), 2);
    let auth = AuthService::new(&repos, hasher, policy, Duration::from_secs(60));
    let registration = Registration {
        email: "ann@example.org".into(),
        name: "Ann".into(),
        password: "correct horse".into(),
    };
    auth.register(registration).await.unwrap();
    assert_eq!(kdf.take(), (1, 0), "registering hashes once");

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
