//! The business layer: services, domain rules and their decisions.
//!
//! It knows nothing of HTTP or SQL: services take plain inputs, apply the
//! rules (validation, visibility, throttling, caching) and call repository
//! traits from [`crate::data`]. Failures are a [`ServiceError`], which the
//! presentation layer maps to statuses. [`Services`] is built once by the
//! composition root and shared by every request.

mod auth;
mod cache;
mod comments;
mod error;
mod health;
mod passwords;
mod post_query;
mod posts;
pub mod slug;
mod tags;
mod users;
pub mod validate;
mod visibility;

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

pub use auth::{AuthService, LoginPolicy, Registration, Session, retry_after};
pub use cache::{Rendered, Shared};
pub use comments::CommentService;
pub use error::{FieldError, ServiceError, ServiceResult};
pub use health::{Check, HealthReport, HealthService, HealthStatus};
pub use passwords::{HashLimits, PasswordHasher};
pub use post_query::{PostFilter, SEARCH_MAX};
pub use posts::{PostDraft, PostPatch, PostService, excerpt};
pub use tags::{TAG_MAX_LEN, TAGS_MAX, TagService};
pub use users::{PublicProfile, UserService};
pub use visibility::Viewer;

use crate::data::{Page, PageRequest, Repositories};
use crate::infrastructure::cache::Cache;
use crate::infrastructure::cache::memory::{DEFAULT_CAPACITY_BYTES, MemoryCache};

/// Tunables of the services; [`Settings::default`] is production-ready.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a login token works (default 24 h).
    pub token_ttl: Duration,
    /// Failed logins within `login_failure_window` that lock an account (default 5).
    pub login_max_failures: u32,
    /// How far back failed logins count (default 15 min).
    pub login_failure_window: Duration,
    /// How long a locked account refuses logins (default 15 min).
    pub login_lock: Duration,
    /// Password hashes computed at once, each holding ~19 MiB (default:
    /// the number of CPUs), and how long and how many logins and
    /// registrations may wait for one before they are refused with
    /// [`ServiceError::Busy`] (default: 5 s, 64 per slot).
    pub password_hashing: HashLimits,
    /// How long cached reads are kept; correctness does not depend on it,
    /// only memory (default 5 min).
    pub cache_ttl: Duration,
    /// The byte budget of the cache in each process (default
    /// [`DEFAULT_CAPACITY_BYTES`], 8 MiB); 0 turns it off.
    pub cache_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            token_ttl: Duration::from_secs(24 * 60 * 60),
            login_max_failures: 5,
            login_failure_window: Duration::from_secs(15 * 60),
            login_lock: Duration::from_secs(15 * 60),
            password_hashing: HashLimits::new(cpus),
            cache_ttl: Duration::from_secs(5 * 60),
            cache_bytes: DEFAULT_CAPACITY_BYTES,
        }
    }
}

/// Every service, built once and shared (behind an `Arc`) by all requests.
pub struct Services {
    /// Registration, login, sessions.
    pub auth: AuthService,
    /// Profiles, follows, notifications.
    pub users: UserService,
    /// Posts.
    pub posts: PostService,
    /// Comments.
    pub comments: CommentService,
    /// The tag cloud.
    pub tags: TagService,
    /// Database and cache health.
    pub health: HealthService,
}

impl Services {
    /// Wires the services to one backend's repositories, a cache in
    /// process, and the cache `shared` by every worker when there is one
    /// (Redis). Passwords are hashed by [`PasswordHasher::standard`]
    /// (argon2id, m=19456 KiB, t=2, p=1) within `settings.password_hashing`.
    pub fn new(repos: Repositories, shared: Option<Arc<dyn Cache>>, settings: Settings) -> Self {
        let hasher = PasswordHasher::standard(settings.password_hashing);
        let policy = LoginPolicy {
            max_failures: settings.login_max_failures.max(1),
            window: settings.login_failure_window,
            lock: settings.login_lock,
        };
        let reads = Arc::new(cache::ReadCache::new(
            MemoryCache::new(settings.cache_bytes),
            shared,
            Arc::clone(&repos.generation),
            settings.cache_ttl,
        ));
        Self {
            auth: AuthService::new(&repos, hasher, policy, settings.token_ttl),
            users: UserService::new(&repos),
            posts: posts::PostService::new(Arc::clone(&repos.posts), Arc::clone(&reads)),
            comments: CommentService::new(Arc::clone(&repos.posts), Arc::clone(&repos.comments)),
            tags: TagService::new(Arc::clone(&repos.posts), reads),
            health: HealthService::new(Arc::clone(&repos.database)),
        }
    }

    /// Reports `cache` (the shared cache, e.g. Redis) in health checks as
    /// `cache:responseTime`. Leave it out when only an in-process cache runs.
    pub fn with_shared_cache_check(mut self, cache: Arc<dyn Cache>) -> Self {
        self.health.set_shared_cache(cache);
        self
    }
}

/// One page of a list, with what the client needs to page through it.
#[derive(Debug, Clone)]
pub struct Listing<T> {
    /// This page's items.
    pub items: Vec<T>,
    /// Items over all pages.
    pub total: u64,
    /// The page that was asked for.
    pub page: PageRequest,
}

impl<T> Listing<T> {
    /// The listing of `found`, the answer to `page`.
    pub fn of(found: Page<T>, page: PageRequest) -> Self {
        Self {
            items: found.items,
            total: found.total,
            page,
        }
    }

    /// Pages needed for `total` items (0 when there are none).
    pub fn total_pages(&self) -> u64 {
        self.total.div_ceil(u64::from(self.page.limit.max(1)))
    }
}

/// An id from a path; anything that is not a UUID names nothing (404).
pub fn parse_id(raw: &str) -> ServiceResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| ServiceError::NotFound)
}
