//! The PostgreSQL backend: one database shared by workers on many machines.
//!
//! Ids are native `uuid`, times `timestamptz` (microseconds). Writes that
//! read before they write lock the row they read (`SELECT ... FOR UPDATE`)
//! or use `INSERT ... ON CONFLICT`, so concurrent workers serialise on the
//! row instead of overwriting each other.

mod auth;
mod codec;
mod comments;
mod generation;
mod posts;
mod reads;
mod social;
mod users;

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use super::connect::{ACQUIRE_TIMEOUT, repositories};
use super::{DataResult, Database, PoolUsage, Repositories};

/// Connections per process; a worker is one of several sharing the
/// server's connection limit.
const POOL_SIZE: u32 = 8;

/// Every repository over one PostgreSQL pool.
pub(crate) struct PgStore {
    /// The pool every method uses.
    pool: PgPool,
}

/// Opens a pool on the database named by `url`.
pub(crate) async fn connect(url: &str) -> DataResult<Repositories> {
    let options = PgConnectOptions::from_str(url)?;
    let pool = PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await?;
    let generation = Arc::new(generation::PgGeneration::new(pool.clone()));
    Ok(repositories(Arc::new(PgStore { pool }), generation))
}

impl PgStore {
    /// A transaction; it rolls back when dropped without `commit`.
    async fn write(&self) -> DataResult<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }
}

/// Sets a new, random content generation; called in every transaction
/// that writes posts, tags or comments, so caches keyed by it see the write.
/// Random rather than counted: a Redis shared by several databases (or by
/// copies of one) then never holds one database's reads under a key another
/// database reaches, as two counters from the same start would.
async fn bump_generation(conn: &mut PgConnection) -> DataResult<()> {
    sqlx::query("UPDATE content_generation SET generation = $1 WHERE id = 1")
        .bind(rand::random::<i64>())
        .execute(conn)
        .await?;
    Ok(())
}

/// The PostgreSQL migrations, embedded in the binary.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

#[async_trait]
impl Database for PgStore {
    /// sqlx holds a session advisory lock (keyed by the database name) while
    /// it migrates, so workers starting together apply each migration once:
    /// the others wait, then find it applied.
    async fn migrate(&self) -> DataResult<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> DataResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn pool_usage(&self) -> PoolUsage {
        PoolUsage {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
        }
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
