//! The composition root: the one place that knows every layer, builds
//! them from the settings and runs the server.
//!
//! Start-up order matters to the supervisor: the stop signals are caught
//! first (a SIGTERM during start-up ends it cleanly, one after it
//! drains; neither kills the process mid-write), the
//! database is migrated before any socket is served (workers starting
//! together run the migrations safely, see `Database::migrate`), and
//! `READY=1` is sent only once every socket accepts. Then the worker serves
//! until SIGTERM or SIGINT, tells the supervisor `STOPPING=1`, drains, and
//! closes the database pool.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;

use crate::business::{self, Services};
use crate::data::{self, Database, Repositories};
use crate::infrastructure::cache::Cache;
use crate::infrastructure::cache::shared::RedisCache;
use crate::infrastructure::listener::{self, Role};
use crate::infrastructure::metrics;
use crate::infrastructure::notify;
use crate::infrastructure::redact::redact;
use crate::infrastructure::server::{self, Drain, Server};
use crate::infrastructure::settings::Settings;
use crate::presentation::{self, AppState};

/// How long closing the database may take after a complete drain.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(500);

/// Connects to `DATABASE_URL` and runs the pending migrations: what every
/// command that touches the database starts with.
pub async fn open_database(settings: &Settings) -> anyhow::Result<Repositories> {
    let url = redact(&settings.database_url);
    let repos = data::open(&settings.database_url, &settings.database)
        .await
        .with_context(|| format!("cannot open the database at {url}"))?;
    repos
        .database
        .migrate()
        .await
        .with_context(|| format!("cannot migrate the database at {url}"))?;
    Ok(repos)
}

/// Runs the worker: builds every layer, serves until a stop signal, drains.
/// A stop signal during start-up (a slow database, say) ends it at once.
pub async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let stop = server::termination().context("cannot install the signal handlers")?;
    let mut stop = std::pin::pin!(stop);
    let _heartbeat = notify::spawn_watchdog();
    let _upkeep = metrics::spawn_upkeep();
    let (server, database) = tokio::select! {
        started = start(settings) => started?,
        signal = &mut stop => {
            tracing::info!(signal, "stopped during start-up");
            return Ok(());
        }
    };
    let signal = stop.await;
    server.stop_accepting().await;
    notify::stopping();
    tracing::info!(signal, drain_timeout = ?settings.drain_timeout, "draining");
    match server.drain(settings.drain_timeout).await {
        Drain::Complete => {
            // Nothing is in flight, so every connection is back in the pool
            // and this returns at once; the bound is only a safety net.
            if tokio::time::timeout(CLOSE_TIMEOUT, database.close())
                .await
                .is_err()
            {
                tracing::warn!("the database connections did not close in time");
            }
            tracing::info!("drained; exiting");
        }
        // Cut requests may still hold connections; the runtime's end drops them.
        Drain::TimedOut { open } => tracing::warn!(
            open,
            "the drain timeout passed; cutting the remaining connections"
        ),
    }
    Ok(())
}

/// Migrates, builds the layers, starts serving, and reports ready;
/// returns the server and the database to close after the drain.
async fn start(settings: &Settings) -> anyhow::Result<(Server, Arc<dyn Database>)> {
    notify::status("migrating the database");
    let repos = open_database(settings).await?;
    let database = Arc::clone(&repos.database);
    let backend = database.backend();

    let shared = match &settings.redis_url {
        Some(url) => Some(Arc::new(
            RedisCache::connect(url).context("REDIS_URL cannot be used")?,
        )),
        None => None,
    };
    let mut tunables = business::Settings::default();
    if let Some(ttl) = settings.token_ttl {
        tunables.token_ttl = ttl;
    }
    if let Some(mib) = settings.cache_mib {
        tunables.cache_bytes = mib * 1024 * 1024;
    }
    let shared_cache = shared.clone().map(|redis| redis as Arc<dyn Cache>);
    let mut services = Services::new(repos, shared_cache, tunables);
    if let Some(shared) = shared {
        services = services.with_shared_cache_check(shared as Arc<dyn Cache>);
    }
    let state = AppState::new(Arc::new(services), service_id());

    let listeners = listener::open(settings.listen).await?;
    let addrs: Vec<String> = listeners.iter().map(|l| l.addr.to_string()).collect();
    let server = Server::start(
        listeners.into_iter().map(|l| {
            let router = routes(l.role, &state);
            (l, router)
        }),
        settings.instance,
        settings.read_timeouts,
    );
    let status = format!("serving on {} ({backend})", addrs.join(", "));
    tracing::info!(pid = std::process::id(), "{status}");
    notify::ready(&status);
    Ok((server, database))
}

/// What a socket answers: the API (with `/health` and `/metrics`), or only
/// the operations routes.
fn routes(role: Role, state: &AppState) -> Router {
    match role {
        Role::Api => presentation::router(state.clone()),
        Role::Ops => presentation::ops_router(state.clone()),
    }
}

/// This worker in `/health`: host, then corral's app name and instance
/// when it runs under corral, else the pid.
fn service_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    match (
        std::env::var("CORRAL_APP"),
        std::env::var("CORRAL_INSTANCE"),
    ) {
        (Ok(app), Ok(instance)) => format!("{host}/{app}/{instance}"),
        _ => format!("{host}/{}", std::process::id()),
    }
}
