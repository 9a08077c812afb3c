//! The worker's settings, read once from the environment at start.
//!
//! Everything a deployment changes comes from environment variables (the
//! supervisor's `[apps.env]`), so one binary serves every environment. A bad
//! value stops the process before it touches the database or a socket, with
//! one sentence that names the variable, what it held and what it expects.

use std::net::SocketAddr;
use std::time::Duration;

use tracing_subscriber::EnvFilter;

use crate::data::DbOptions;
use crate::infrastructure::redact::redact;

mod database;
mod read_timeouts;
pub use read_timeouts::ReadTimeouts;

/// Where the database lives when `DATABASE_URL` is unset: a file under the
/// working directory, which the supervisor sets to the app's `cwd`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/app.db";

/// How the worker writes its log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line: what log pipelines parse.
    Json,
    /// Human-readable lines, for a terminal.
    Text,
}

/// Everything the worker reads from its environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `DATABASE_URL`: `sqlite://...` or `postgres://...`.
    pub database_url: String,
    /// `APP_LISTEN`: bound only when no socket was handed over by fd.
    pub listen: SocketAddr,
    /// `REDIS_URL`: the cache shared by every worker, if any.
    pub redis_url: Option<String>,
    /// `APP_LOG_FORMAT`: `json` (default) or `text`.
    pub log_format: LogFormat,
    /// `APP_LOG` (else `RUST_LOG`, else `info`): a tracing filter directive.
    pub log_filter: String,
    /// `APP_DRAIN_TIMEOUT`: how long the drain may take after SIGTERM
    /// (requests in flight, and the idle grace of open connections,
    /// [`IDLE_GRACE`](crate::infrastructure::server::IDLE_GRACE)) before
    /// the connections still open are cut.
    pub drain_timeout: Duration,
    /// `APP_TOKEN_TTL`: how long a login token works; `None` keeps the
    /// business layer's default (24 h).
    pub token_ttl: Option<Duration>,
    /// `APP_THREADS`: runtime worker threads. Under a supervisor (sockets
    /// handed over by fd) the default is 1, since the supervisor already runs
    /// one worker per CPU; standalone it is one per CPU.
    pub threads: usize,
    /// `APP_ACCESS_LOG`: `on` (default) or `off`, one line per request.
    pub access_log: bool,
    /// `APP_CACHE_MIB`: the in-process read cache's budget in MiB; `None`
    /// keeps the business layer's default.
    pub cache_mib: Option<u64>,
    /// `APP_DB_CONNECT_TIMEOUT` (default 2s) and `APP_DB_STATEMENT_TIMEOUT`
    /// (default 5s): how long a database call may wait for a connection,
    /// and how long one statement may run (PostgreSQL) or wait on another
    /// process's lock (SQLite); `APP_DB_POOL_MAX`, `APP_DB_POOL_MIN` and
    /// `APP_DB_IDLE_TIMEOUT`: the pool; `APP_DB_SLOW_STATEMENT`: the
    /// slow-statement log's threshold.
    pub database: DbOptions,
    /// `CORRAL_INSTANCE` of `CORRAL_INSTANCES`: this worker's slot among
    /// the workers sharing its sockets, when corral says so; the accept
    /// loop balances connections across them.
    pub instance: Option<Instance>,
    /// `APP_HEADER_READ_TIMEOUT` and `APP_BODY_READ_TIMEOUT`: how long a
    /// client may take to send a request's head and its body.
    pub read_timeouts: ReadTimeouts,
}

/// This worker's slot among its app's workers, as corral numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instance {
    /// `CORRAL_INSTANCE`: 0..count.
    pub index: usize,
    /// `CORRAL_INSTANCES`: how many workers the app runs.
    pub count: usize,
}

/// The largest `APP_CACHE_MIB` accepted (64 GiB): more is surely a typo.
pub const CACHE_MIB_MAX: u64 = 64 * 1024;

/// The longest `APP_TOKEN_TTL` accepted: longer is surely a mistake, and a
/// huge one would overflow the expiry time.
pub const TOKEN_TTL_MAX: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// A variable that holds a value the worker cannot use.
#[derive(Debug, thiserror::Error)]
#[error("{var}={value:?} is not valid: expected {expected}")]
pub struct SettingsError {
    /// The variable's name.
    pub var: &'static str,
    /// What it held.
    pub value: String,
    /// What it should hold, with an example.
    pub expected: &'static str,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the
    /// process-wide environment. Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let bad = |var, value: String, expected| SettingsError {
            var,
            value,
            expected,
        };

        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|scheme| database_url.starts_with(scheme))
        {
            return Err(bad(
                "DATABASE_URL",
                redact(&database_url),
                "a sqlite: or postgres:// URL such as sqlite://data/app.db",
            ));
        }
        let listen = match get("APP_LISTEN") {
            None => SocketAddr::from(([127, 0, 0, 1], 3000)),
            Some(v) => v.parse().map_err(|_| {
                bad(
                    "APP_LISTEN",
                    v,
                    "an IP address and port such as 127.0.0.1:3000",
                )
            })?,
        };
        let redis_url = get("REDIS_URL");
        if let Some(url) = &redis_url
            && redis::Client::open(url.as_str()).is_err()
        {
            return Err(bad(
                "REDIS_URL",
                redact(url),
                "a redis:// URL such as redis://127.0.0.1:6379",
            ));
        }
        let log_format = match get("APP_LOG_FORMAT").as_deref() {
            None | Some("json") => LogFormat::Json,
            Some("text") => LogFormat::Text,
            Some(other) => return Err(bad("APP_LOG_FORMAT", other.into(), "json or text")),
        };
        let log_filter = get("APP_LOG")
            .or_else(|| get("RUST_LOG"))
            .unwrap_or_else(|| "info".into());
        if EnvFilter::try_new(&log_filter).is_err() {
            return Err(bad(
                "APP_LOG",
                log_filter,
                "a log filter such as info or app=debug,sqlx=warn",
            ));
        }
        let duration = |var, example| match get(var) {
            None => Ok(None),
            Some(v) => match humantime::parse_duration(v.trim()) {
                Ok(d) if !d.is_zero() => Ok(Some(d)),
                _ => Err(bad(var, v, example)),
            },
        };
        let drain_timeout = duration("APP_DRAIN_TIMEOUT", "a duration such as 10s or 500ms")?
            .unwrap_or(Duration::from_secs(10));
        let ttl_example = "a duration of at most 365 days, such as 24h or 30m";
        let token_ttl = duration("APP_TOKEN_TTL", ttl_example)?;
        if token_ttl.is_some_and(|ttl| ttl > TOKEN_TTL_MAX) {
            let value = get("APP_TOKEN_TTL").unwrap_or_default();
            return Err(bad("APP_TOKEN_TTL", value, ttl_example));
        }
        let threads = match get("APP_THREADS") {
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(bad(
                        "APP_THREADS",
                        v,
                        "a positive number of threads such as 2",
                    ));
                }
            },
            None if get("LISTEN_FDS").is_some() => 1,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let access_log = match get("APP_ACCESS_LOG").as_deref().map(str::trim) {
            None | Some("on") => true,
            Some("off") => false,
            Some(other) => return Err(bad("APP_ACCESS_LOG", other.into(), "on or off")),
        };
        let cache_mib = match get("APP_CACHE_MIB") {
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if n <= CACHE_MIB_MAX => Some(n),
                _ => {
                    return Err(bad(
                        "APP_CACHE_MIB",
                        v,
                        "a number of MiB from 0 (no cache in the process) to 65536, such as 8",
                    ));
                }
            },
            None => None,
        };
        let database = database::read(get, &database_url)?;
        let instance = match (get("CORRAL_INSTANCE"), get("CORRAL_INSTANCES")) {
            (Some(index), Some(count)) => {
                let expected = "a worker count such as 2, above CORRAL_INSTANCE (corral sets both)";
                let index = index.trim().parse::<usize>().ok();
                match (index, count.trim().parse::<usize>()) {
                    (Some(index), Ok(n)) if index < n => Some(Instance { index, count: n }),
                    _ => return Err(bad("CORRAL_INSTANCES", count, expected)),
                }
            }
            _ => None,
        };
        let read_timeouts = ReadTimeouts::read(get)?;
        Ok(Self {
            database_url,
            listen,
            redis_url,
            log_format,
            log_filter,
            drain_timeout,
            token_ttl,
            threads,
            access_log,
            cache_mib,
            database,
            instance,
            read_timeouts,
        })
    }
}

#[cfg(test)]
mod tests;
