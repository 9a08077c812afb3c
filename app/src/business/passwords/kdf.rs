//! The slow function itself: argon2id, behind the [`Kdf`] seam so tests
//! can count its runs or make it block.

use argon2::password_hash::{
    Output, PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore as _;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
