//! Registration, login with per-account throttling, bearer sessions.
//!
//! Login answers the same error, at about the same cost, whether the email
//! is unknown or the password wrong (an unknown email is checked against a
//! dummy hash). Failures are counted per normalised email (its SHA-256) in
//! the database, so every worker sees the same count: after `max_failures`
//! within `window` the account is locked for `lock`, even for the right
//! password.
//! An attempt is counted before its password is checked (see
//! `data::throttle`), so parallel attempts cannot outrun the count.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::business::error::{DataContext as _, ServiceError, ServiceResult};
use crate::business::passwords::{PasswordHasher, random_token, token_hash};
use crate::business::validate;
use crate::data::{
    LoginThrottleRepository, NewSession, NewUser, Repositories, SessionRepository, ThrottleLimits,
    User, UserRepository,
};

/// What a client sends to register.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Email, validated and trimmed here.
    pub email: String,
    /// Display name, validated and trimmed here.
    pub name: String,
    /// Clear-text password; only its hash is kept.
    pub password: String,
}

/// A new session as the client receives it, once.
#[derive(Debug, Clone)]
pub struct Session {
    /// The bearer token; the server keeps only its SHA-256.
    pub token: String,
    /// When the token stops working.
    pub expires_at: DateTime<Utc>,
    /// Whose session it is.
    pub user: User,
}

/// How failed logins are throttled.
#[derive(Debug, Clone, Copy)]
pub struct LoginPolicy {
    /// Failures within `window` that lock the account.
    pub max_failures: u32,
    /// How far back failures count.
    pub window: Duration,
    /// How long a locked account refuses logins.
    pub lock: Duration,
}

impl LoginPolicy {
    /// The policy as the repository counts it.
    fn limits(self) -> ThrottleLimits {
        let chrono = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        ThrottleLimits {
            window: chrono(self.window),
            max_failures: self.max_failures,
            lock: chrono(self.lock),
        }
    }
}

/// Users' credentials and sessions.
pub struct AuthService {
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionRepository>,
    throttle: Arc<dyn LoginThrottleRepository>,
    hasher: PasswordHasher,
    policy: LoginPolicy,
    token_ttl: Duration,
}

impl AuthService {
    pub(crate) fn new(
        repos: &Repositories,
        hasher: PasswordHasher,
        policy: LoginPolicy,
        token_ttl: Duration,
    ) -> Self {
        Self {
            users: Arc::clone(&repos.users),
            sessions: Arc::clone(&repos.sessions),
            throttle: Arc::clone(&repos.login_throttle),
            hasher,
            policy,
            token_ttl,
        }
    }

    /// Creates a user with role `user`; `Conflict { field: "email" }` when
    /// the email is taken (case-insensitively).
    pub async fn register(&self, input: Registration) -> ServiceResult<User> {
        let checks = (
            validate::email(&input.email),
            validate::line("name", &input.name, validate::NAME_LEN),
            validate::password(&input.password),
        );
        let (email, name) = match checks {
            (Ok(email), Ok(name), Ok(())) => (email, name),
            (email, name, password) => {
                let errors = [email.err(), name.err(), password.err()];
                return Err(ServiceError::Validation(
                    errors.into_iter().flatten().collect(),
                ));
            }
        };
        let password_hash = self.hasher.hash(input.password).await?;
        let new = NewUser {
            id: Uuid::now_v7(),
            email,
            name,
            password_hash,
            created_at: Utc::now(),
        };
        self.users.create(new).await.during("registering a user")
    }

    /// Checks the credentials and opens a session. The attempt is counted
    /// before the password is checked, and the lock is checked again after,
    /// so neither parallel attempts nor a right password during a lock get
    /// past the throttle.
    pub async fn login(&self, email: &str, password: String) -> ServiceResult<Session> {
        let email = email.trim();
        let Some(key) = throttle_key(email) else {
            // No account can have this email: answer like an unknown one,
            // at the same cost, and store nothing about it.
            self.hasher.verify(password, None).await?;
            return Err(ServiceError::InvalidCredentials);
        };
        // The slot first: a login refused because the hasher is busy must
        // not count as a failed attempt against the account.
        let slot = self.hasher.slot().await?;
        let limits = self.policy.limits();
        let now = Utc::now();
        let refused = self
            .throttle
            .reserve(&key, now, limits)
            .await
            .during("checking login throttling")?;
        if let Some(retry_after) = retry_after(refused, now) {
            return Err(ServiceError::TooManyAttempts { retry_after });
        }
        let user = self
            .users
            .by_email(email)
            .await
            .during("looking up a user")?;
        let stored = user.as_ref().map(|user| user.password_hash.clone());
        let plausible = password.chars().count() <= validate::PASSWORD_LEN.1;
        let matches = self
            .hasher
            .verify_in(slot, password, stored.filter(|_| plausible))
            .await?;
        let now = Utc::now();
        let Some(user) = user.filter(|_| matches) else {
            return Err(self.failed(&key, now, limits).await);
        };
        let locked = self
            .throttle
            .succeed(&key, now)
            .await
            .during("resetting login throttling")?;
        if let Some(retry_after) = retry_after(locked, now) {
            return Err(ServiceError::TooManyAttempts { retry_after });
        }
        let token = random_token();
        let expires_at =
            now + chrono::Duration::from_std(self.token_ttl).unwrap_or(chrono::Duration::days(1));
        let session = NewSession {
            token_hash: token_hash(&token),
            user_id: user.id,
            created_at: now,
            expires_at,
        };
        self.sessions
            .create(session)
            .await
            .during("opening a session")?;
        Ok(Session {
            token,
            expires_at,
            user,
        })
    }

    async fn failed(&self, key: &str, now: DateTime<Utc>, limits: ThrottleLimits) -> ServiceError {
        let recorded = self.throttle.record_failure(key, now, limits).await;
        match recorded.during("counting a failed login") {
            Ok(locked) => match retry_after(locked, now) {
                Some(retry_after) => ServiceError::TooManyAttempts { retry_after },
                None => ServiceError::InvalidCredentials,
            },
            Err(error) => error,
        }
    }

    /// The user of a live session; `InvalidToken` when it is unknown,
    /// expired or revoked.
    pub async fn authenticate(&self, token: &str) -> ServiceResult<User> {
        if token.is_empty() || token.len() > 128 {
            return Err(ServiceError::InvalidToken);
        }
        let user = self
            .sessions
            .user_for(&token_hash(token), Utc::now())
            .await
            .during("checking a session")?;
        user.ok_or(ServiceError::InvalidToken)
    }

    /// Revokes the session of `token` for every worker at once.
    pub async fn logout(&self, token: &str) -> ServiceResult<()> {
        self.sessions
            .revoke(&token_hash(token))
            .await
            .during("revoking a session")?;
        Ok(())
    }
}

/// The throttle key of a login email: the SHA-256 (hex) of its folded form,
/// so a key is 64 bytes whatever was sent. `None` for what no account can
/// have (over [`validate::EMAIL_MAX`] characters, or control characters,
/// NUL included), which is neither looked up nor counted.
fn throttle_key(email: &str) -> Option<String> {
    if email.chars().count() > validate::EMAIL_MAX || email.chars().any(char::is_control) {
        return None;
    }
    Some(format!("{:x}", Sha256::digest(email.to_lowercase())))
}

/// How long until a lock ending at `locked_until` lifts, rounded up to whole
/// seconds (what `Retry-After` can say); `None` when not locked.
pub fn retry_after(locked_until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<Duration> {
    let left = (locked_until? - now)
        .to_std()
        .ok()
        .filter(|left| !left.is_zero())?;
    let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    Some(Duration::from_secs(seconds.max(1)))
}

#[cfg(test)]
mod tests;
