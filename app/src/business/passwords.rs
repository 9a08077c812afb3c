//! Password hashing and bearer tokens.
//!
//! Hashing is argon2id (at least the OWASP minimum m=19456 KiB, t=2, p=1),
//! run on the blocking pool behind a semaphore: each hash holds ~19 MiB for
//! tens of milliseconds, so a burst of logins waits for a permit instead of
//! exhausting memory or starving the async workers. Tokens are 32 random
//! bytes (base64url); only their SHA-256 is stored.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;

use crate::business::error::{ServiceError, ServiceResult};

/// Hashes and verifies passwords on a bounded pool of blocking threads.
pub(crate) struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    dummy: OnceLock<String>,
}

impl PasswordHasher {
    /// A hasher with argon2id `params` and at most `concurrency` hashes at once.
    pub(crate) fn new(params: Params, concurrency: usize) -> Self {
        Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy: OnceLock::new(),
        }
    }

    /// The PHC string of `password` with a fresh random salt.
    pub(crate) async fn hash(&self, password: String) -> ServiceResult<String> {
        let params = self.params.clone();
        self.blocking(move || hash_with(&params, &password)).await
    }

    /// Whether `password` matches the PHC string `stored`; a hash that does
    /// not parse never matches. With `stored` = `None` (unknown account) it
    /// verifies against a dummy hash made once, so both cases cost the same.
    pub(crate) async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> ServiceResult<bool> {
        let known = stored.is_some();
        let stored = match stored {
            Some(stored) => stored,
            None => self.dummy_hash().await?,
        };
        let matches = self
            .blocking(move || verify_with(&password, &stored))
            .await?;
        Ok(known && matches)
    }

    async fn dummy_hash(&self) -> ServiceResult<String> {
        if let Some(dummy) = self.dummy.get() {
            return Ok(dummy.clone());
        }
        let made = self.hash(random_token()).await?;
        Ok(self.dummy.get_or_init(|| made).clone())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> ServiceResult<T> {
        let unavailable =
            |source: Box<dyn std::error::Error + Send + Sync>| ServiceError::Unavailable {
                during: "hashing a password",
                source,
            };
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|closed| unavailable(Box::new(closed)))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|join| unavailable(Box::new(join)))
    }
}

fn hash_with(params: &Params, password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt length");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2id hashing with valid params cannot fail")
        .to_string()
}

fn verify_with(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
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
    use super::*;

    fn cheap() -> PasswordHasher {
        PasswordHasher::new(Params::new(64, 1, 1, None).unwrap(), 2)
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
        assert!(
            hasher.dummy.get().is_some(),
            "the dummy hash is made once and kept"
        );
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
