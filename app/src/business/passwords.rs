//! Password hashing and bearer tokens.
//!
//! Hashing is argon2id (at least the OWASP minimum m=19456 KiB, t=2, p=1),
//! run on the blocking pool behind a semaphore: each hash holds ~19 MiB for
//! tens of milliseconds, so a burst of logins waits for a permit instead of
//! exhausting memory or starving the async workers. Tokens are 32 random
//! bytes (base64url); only their SHA-256 is stored.

use std::sync::Arc;

use argon2::password_hash::{
    Output, PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;

use crate::business::error::{ServiceError, ServiceResult};

/// The slow function itself, behind a seam so that tests can count how
/// often it runs (login must run it exactly once on every path).
pub(crate) trait Kdf: Send + Sync + 'static {
    /// The PHC string of `password` with a fresh random salt.
    fn hash(&self, password: &str) -> String;
    /// Whether `password` matches the PHC string `stored`.
    fn verify(&self, password: &str, stored: &str) -> bool;
    /// A PHC string with this function's parameters that no password
    /// matches, so verifying against it costs what a real check costs.
    fn decoy(&self) -> String;
}

/// argon2id with fixed parameters.
pub(crate) struct Argon2id {
    params: Params,
}

impl Argon2id {
    /// argon2id with `params`.
    pub(crate) fn new(params: Params) -> Self {
        Self { params }
    }

    /// The OWASP minimum: m=19456 KiB, t=2, p=1. The one place the
    /// production parameters are defined.
    pub(crate) fn owasp() -> Self {
        let params = Params::new(Params::DEFAULT_M_COST, 2, 1, None)
            .expect("the OWASP argon2id parameters are valid");
        Self::new(params)
    }
}

impl Kdf for Argon2id {
    fn hash(&self, password: &str) -> String {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
            .hash_password(password.as_bytes(), &random_salt())
            .expect("argon2id hashing with valid params cannot fail")
            .to_string()
    }

    fn verify(&self, password: &str, stored: &str) -> bool {
        // The parameters come from the stored string, so hashes made with
        // older parameters keep working.
        PasswordHash::new(stored).is_ok_and(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
    }

    fn decoy(&self) -> String {
        // Verification recomputes the hash from the salt and parameters and
        // compares it with the stored output; random bytes match nothing.
        let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
        rand::rng().fill_bytes(&mut output);
        let output = Output::new(&output).expect("32 bytes is a valid output length");
        let p = &self.params;
        let (m, t, l) = (p.m_cost(), p.t_cost(), p.p_cost());
        format!(
            "$argon2id$v=19$m={m},t={t},p={l}${}${output}",
            random_salt()
        )
    }
}

fn random_salt() -> SaltString {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    SaltString::encode_b64(&salt).expect("16 bytes is a valid salt length")
}

/// Hashes and verifies passwords on a bounded pool of blocking threads.
/// The services use it for users' passwords, and `app seed` for the demo
/// users', so both store hashes with the same parameters.
pub struct PasswordHasher {
    kdf: Arc<dyn Kdf>,
    permits: Arc<Semaphore>,
    decoy: String,
}

impl PasswordHasher {
    /// argon2id with the OWASP parameters, at most `concurrency` hashes at
    /// once (each holds ~19 MiB for tens of milliseconds).
    pub fn standard(concurrency: usize) -> Self {
        Self::with_kdf(Arc::new(Argon2id::owasp()), concurrency)
    }

    /// A hasher running `kdf`, at most `concurrency` at once.
    pub(crate) fn with_kdf(kdf: Arc<dyn Kdf>, concurrency: usize) -> Self {
        Self {
            decoy: kdf.decoy(),
            kdf,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    /// The PHC string of `password` with a fresh random salt.
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
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.decoy.clone());
        let kdf = Arc::clone(&self.kdf);
        let matches = self
            .blocking(move || kdf.verify(&password, &stored))
            .await?;
        Ok(known && matches)
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
        let kdf = Argon2id::new(Params::new(64, 1, 1, None).unwrap());
        PasswordHasher::with_kdf(Arc::new(kdf), 2)
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

    #[test]
    fn the_decoy_has_the_production_parameters() {
        let decoy = Argon2id::owasp().decoy();
        let parsed = PasswordHash::new(&decoy).expect("the decoy is a PHC string");
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        let params = Params::try_from(&parsed).unwrap();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (19456, 2, 1)
        );
        assert_eq!(parsed.hash.map(|h| h.len()), Some(32));
        assert_ne!(decoy, Argon2id::owasp().decoy(), "salted afresh");
    }

    #[test]
    fn production_hashes_are_owasp_argon2id() {
        let stored = Argon2id::owasp().hash("correct horse");
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(Argon2id::owasp().verify("correct horse", &stored));
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
