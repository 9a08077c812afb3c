//! Sessions and failed-login throttling on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use sqlx::Row;

use super::SqliteStore;
use super::codec::{UserRow, id, read_ts, ts};
use crate::data::rules::{Throttle, micros};
use crate::data::{DataResult, LoginThrottleRepository, NewSession, SessionRepository, User};

#[async_trait]
impl SessionRepository for SqliteStore {
    async fn create(&self, session: NewSession) -> DataResult<()> {
        let mut tx = self.write().await?;
        // Expired sessions are useless; sweeping them here keeps the table
        // small without a background job.
        sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(ts(session.created_at))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(&session.token_hash)
        .bind(id(session.user_id))
        .bind(ts(session.created_at))
        .bind(ts(session.expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn user_for(&self, token_hash: &[u8], now: DateTime<Utc>) -> DataResult<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = ? AND s.expires_at > ?",
        )
        .bind(token_hash)
        .bind(ts(now))
        .fetch_optional(&self.pool)
        .await?;
        row.map(UserRow::into_user).transpose()
    }

    async fn revoke(&self, token_hash: &[u8]) -> DataResult<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

#[async_trait]
impl LoginThrottleRepository for SqliteStore {
    async fn locked_until(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> DataResult<Option<DateTime<Utc>>> {
        let until: Option<String> = sqlx::query_scalar(
            "SELECT locked_until FROM login_throttle \
             WHERE throttle_key = ? AND locked_until > ?",
        )
        .bind(key)
        .bind(ts(now))
        .fetch_optional(&self.pool)
        .await?;
        until
            .map(|text| read_ts("login_throttle.locked_until", &text))
            .transpose()
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
        // The immediate transaction makes read-count-write atomic per key
        // across every process on the file.
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "SELECT failures, window_start, locked_until FROM login_throttle \
             WHERE throttle_key = ?",
        )
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        let previous = match row {
            Some(row) => {
                let start: String = row.try_get("window_start")?;
                let until: Option<String> = row.try_get("locked_until")?;
                Some(Throttle {
                    failures: row.try_get("failures")?,
                    window_start: read_ts("login_throttle.window_start", &start)?,
                    locked_until: until
                        .map(|text| read_ts("login_throttle.locked_until", &text))
                        .transpose()?,
                })
            }
            None => None,
        };
        let (next, locked) = Throttle::after_failure(previous, now, window, max_failures, lock);
        sqlx::query(
            "INSERT INTO login_throttle (throttle_key, failures, window_start, locked_until) \
             VALUES (?, ?, ?, ?) ON CONFLICT (throttle_key) DO UPDATE SET \
             failures = excluded.failures, window_start = excluded.window_start, \
             locked_until = excluded.locked_until",
        )
        .bind(key)
        .bind(next.failures)
        .bind(ts(next.window_start))
        .bind(next.locked_until.map(ts))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(locked)
    }

    async fn reset(&self, key: &str) -> DataResult<()> {
        sqlx::query("DELETE FROM login_throttle WHERE throttle_key = ?")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
