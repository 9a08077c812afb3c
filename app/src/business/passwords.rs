//! Password hashing and bearer tokens.
//!
//! Hashing is argon2id (at least the OWASP minimum m=19456 KiB, t=2, p=1),
//! run on the blocking pool behind a semaphore: each hash holds ~19 MiB for
//! tens of milliseconds, so a burst of logins waits for a slot instead of
//! exhausting memory or starving the async workers, and a flood that would
//! wait too long is refused at once ([`HashLimits`]). Tokens are 32 random
//! bytes (base64url); only their SHA-256 is stored.

mod kdf;
mod slots;

use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use crate::business::error::{ServiceError, ServiceResult};
pub(crate) use kdf::{Argon2id, Kdf};
pub use slots::HashLimits;
use slots::Slots;

/// Hashes and verifies passwords on a bounded pool of blocking threads.
/// The services use it for users' passwords, and `app seed` for the demo
/// users', so both store hashes with the same parameters.
pub struct PasswordHasher {
    kdf: Arc<dyn Kdf>,
    slots: Slots,
    decoy: String,
}

impl PasswordHasher {
    /// argon2id with the OWASP parameters, as many hashes at once and as
    /// long a wait for one as `limits` allows (each hash holds ~19 MiB for
    /// tens of milliseconds).
    pub fn standard(limits: HashLimits) -> Self {
        Self::with_kdf(Arc::new(Argon2id::owasp()), limits)
    }

    /// A hasher running `kdf` within `limits`.
    pub(crate) fn with_kdf(kdf: Arc<dyn Kdf>, limits: HashLimits) -> Self {
        Self {
            decoy: kdf.decoy(),
            kdf,
            slots: Slots::new(limits),
        }
    }

    /// The PHC string of `password` with a fresh random salt; `Busy` when
    /// no slot frees up in time.
    pub async fn hash(&self, password: String) -> ServiceResult<String> {
        let kdf = Arc::clone(&self.kdf);
        self.blocking(move || kdf.hash(&password)).await
    }

    /// Whether `password` matches the PHC string `stored`; a hash that does
    /// not parse never matches. With `stored` = `None` (unknown account) it
    /// verifies against the decoy, so both cases cost one verification.
    pub(crate) async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> ServiceResult<bool> {
        let slot = self.slot().await?;
        self.verify_in(slot, password, stored).await
    }

    /// Waits for a hashing slot ahead of the work, so a caller learns that
    /// the hasher is busy before it records anything (a login attempt).
    pub(crate) async fn slot(&self) -> ServiceResult<HashSlot> {
        Ok(HashSlot {
            _permit: self.slots.acquire().await?,
        })
    }

    /// [`PasswordHasher::verify`] in a slot already held.
    pub(crate) async fn verify_in(
        &self,
        slot: HashSlot,
        password: String,
        stored: Option<String>,
    ) -> ServiceResult<bool> {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.decoy.clone());
        let kdf = Arc::clone(&self.kdf);
        let matches = run_in(slot, move || kdf.verify(&password, &stored)).await?;
        Ok(known && matches)
    }

    /// Runs `work` on the blocking pool once a slot is free.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> ServiceResult<T> {
        run_in(self.slot().await?, work).await
    }
}

/// A hashing slot: while it is held, one hash may run.
pub(crate) struct HashSlot {
    /// Released on drop, when the hash is done.
    _permit: OwnedSemaphorePermit,
}

/// Runs `work` on the blocking pool, holding `slot` until it is done.
async fn run_in<T: Send + 'static>(
    slot: HashSlot,
    work: impl FnOnce() -> T + Send + 'static,
) -> ServiceResult<T> {
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        work()
    })
    .await
    .map_err(|join| ServiceError::Unavailable {
        during: "hashing a password",
        source: Box::new(join),
    })
}

/// A new bearer token: 32 bytes from the thread-local CSPRNG, base64url.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the session table stores for a token: its SHA-256.
pub(crate) fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::mpsc;
    use std::time::Duration;

    use argon2::Params;
    use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

    use super::*;

    fn cheap() -> PasswordHasher {
        let kdf = Argon2id::new(Params::new(64, 1, 1, None).unwrap());
        PasswordHasher::with_kdf(Arc::new(kdf), HashLimits::new(2))
    }

    #[tokio::test]
    async fn hashes_verify_and_salt() {
        let hasher = cheap();
        let a = hasher.hash("correct horse".into()).await.unwrap();
        let b = hasher.hash("correct horse".into()).await.unwrap();
        assert_ne!(a, b, "every hash has its own salt");
        assert!(a.starts_with("$argon2id$"));
        assert!(
            hasher
                .verify("correct horse".into(), Some(a.clone()))
                .await
                .unwrap()
        );
        assert!(!hasher.verify("wrong horse".into(), Some(a)).await.unwrap());
        assert!(
            !hasher
                .verify("x".into(), Some("not a hash".into()))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn unknown_accounts_never_match() {
        let hasher = cheap();
        assert!(!hasher.verify("anything".into(), None).await.unwrap());
        assert!(!hasher.verify(String::new(), None).await.unwrap());
    }

    /// A KDF whose hashes report that they started, then block until the
    /// test lets them finish.
    struct Blocked {
        started: UnboundedSender<()>,
        release: Mutex<mpsc::Receiver<()>>,
    }

    impl Kdf for Blocked {
        fn hash(&self, _password: &str) -> String {
            self.started.send(()).unwrap();
            self.release.lock().unwrap().recv().unwrap();
            "hashed".into()
        }
        fn verify(&self, _password: &str, _stored: &str) -> bool {
            false
        }
        fn decoy(&self) -> String {
            String::new()
        }
    }

    #[tokio::test]
    async fn a_flood_is_refused_while_a_slow_hash_holds_the_slot() {
        let (started, mut running) = unbounded_channel();
        let (release, blocked) = mpsc::channel();
        let kdf = Blocked {
            started,
            release: Mutex::new(blocked),
        };
        let limits = HashLimits {
            concurrency: 1,
            max_wait: Duration::from_millis(50),
            max_waiting: 4,
        };
        let hasher = Arc::new(PasswordHasher::with_kdf(Arc::new(kdf), limits));
        let slow = tokio::spawn({
            let hasher = Arc::clone(&hasher);
            async move { hasher.hash("first".into()).await }
        });
        running.recv().await.expect("the first hash runs");
        for _ in 0..3 {
            match hasher.hash("flood".into()).await {
                Err(ServiceError::Busy { retry_after }) => {
                    assert_eq!(retry_after, Duration::from_secs(1));
                }
                other => panic!("expected Busy, got {other:?}"),
            }
            assert!(matches!(
                hasher.verify("flood".into(), None).await,
                Err(ServiceError::Busy { .. })
            ));
        }
        release.send(()).unwrap();
        assert_eq!(slow.await.unwrap().unwrap(), "hashed");
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert_eq!(token_hash(&a).len(), 32);
        assert_eq!(token_hash(&a), token_hash(&a));
    }
}
