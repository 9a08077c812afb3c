//! Whether PostgreSQL answers at all: the guard's [`Liveness`] check, on a
//! connection of its own. Not one from the pool, whose connections may all
//! be held by the slow calls that prompted the check: a busy pool is not an
//! outage.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use crate::data::guard::Liveness;

/// Pings the server on its own connection, opened at the first check, and
/// again when the kept one fails or a check failed.
pub(crate) struct PgLiveness {
    options: PgConnectOptions,
    /// The check's connection between checks. Taken out while in use, so a
    /// check dropped midway (its caller went away) leaves no connection in
    /// an unknown state behind.
    conn: Mutex<Option<PgConnection>>,
}

impl PgLiveness {
    /// Checks the server `options` name.
    pub(crate) fn new(options: PgConnectOptions) -> Self {
        Self {
            options,
            conn: Mutex::new(None),
        }
    }
}

#[async_trait]
impl Liveness for PgLiveness {
    async fn answers(&self, within: Duration) -> bool {
        let taken = self
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let check = async {
            // A kept connection the server has since closed (an idle
            // timeout, a restart) fails at once: that is no outage, so a
            // new one is opened within the same bound.
            if let Some(mut conn) = taken
                && conn.ping().await.is_ok()
            {
                return Ok(conn);
            }
            let mut conn = PgConnection::connect_with(&self.options).await?;
            conn.ping().await?;
            Ok::<_, sqlx::Error>(conn)
        };
        let Ok(Ok(conn)) = tokio::time::timeout(within, check).await else {
            return false;
        };
        *self.conn.lock().unwrap_or_else(PoisonError::into_inner) = Some(conn);
        true
    }
}
