//! Sessions and failed-login throttling on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use sqlx::Row;

use super::PgStore;
use super::codec::UserRow;
use crate::data::rules::{Throttle, micros};
use crate::data::{DataResult, LoginThrottleRepository, NewSession, SessionRepository, User};

#[async_trait]
impl SessionRepository for PgStore {
    async fn create(&self, session: NewSession) -> DataResult<()> {
        let mut tx = self.write().await?;
        // Expired sessions are useless; sweeping them here keeps the table
        // small without a background job.
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(session.created_at)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&session.token_hash)
        .bind(session.user_id)
        .bind(micros(session.created_at))
        .bind(micros(session.expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn user_for(&self, token_hash: &[u8], now: DateTime<Utc>) -> DataResult<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(micros(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(User::from))
    }

    async fn revoke(&self, token_hash: &[u8]) -> DataResult<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

#[async_trait]
impl LoginThrottleRepository for PgStore {
    async fn locked_until(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> DataResult<Option<DateTime<Utc>>> {
        Ok(sqlx::query_scalar(
            "SELECT locked_until FROM login_throttle \
             WHERE throttle_key = $1 AND locked_until > $2",
        )
        .bind(key)
        .bind(micros(now))
        .fetch_optional(&self.pool)
        .await?
        .flatten())
    }

    async fn record_failure(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: Duration,
        max_failures: u32,
        lock: Duration,
    ) -> DataResult<Option<DateTime<Utc>>> {
        let now = micros(now);
        let mut tx = self.write().await?;
        // Make sure the row exists, then lock it: concurrent failures for
        // one key are counted one after the other, on every worker.
        sqlx::query(
            "INSERT INTO login_throttle (throttle_key, failures, window_start) \
             VALUES ($1, 0, $2) ON CONFLICT (throttle_key) DO NOTHING",
        )
        .bind(key)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "SELECT failures, window_start, locked_until FROM login_throttle \
             WHERE throttle_key = $1 FOR UPDATE",
        )
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
        let previous = Throttle {
            failures: i64::from(row.try_get::<i32, _>("failures")?),
            window_start: row.try_get("window_start")?,
            locked_until: row.try_get("locked_until")?,
        };
        let (next, locked) =
            Throttle::after_failure(Some(previous), now, window, max_failures, lock);
        sqlx::query(
            "UPDATE login_throttle SET failures = $2, window_start = $3, locked_until = $4 \
             WHERE throttle_key = $1",
        )
        .bind(key)
        .bind(i32::try_from(next.failures).unwrap_or(i32::MAX))
        .bind(next.window_start)
        .bind(next.locked_until)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(locked)
    }

    async fn reset(&self, key: &str) -> DataResult<()> {
        sqlx::query("DELETE FROM login_throttle WHERE throttle_key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
