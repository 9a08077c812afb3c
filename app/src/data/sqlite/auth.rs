//! Sessions and failed-login throttling on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Row, SqliteConnection};

use super::SqliteStore;
use super::codec::{UserRow, id, read_ts, ts};
use crate::data::rules::micros;
use crate::data::throttle::{SWEEP_BATCH, Throttle, expired_before};
use crate::data::{
    DataResult, LoginThrottleRepository, NewSession, SessionRepository, ThrottleLimits, User,
};

#[async_trait]
impl SessionRepository for SqliteStore {
    async fn create(&self, session: NewSession) -> DataResult<()> {
        self.write(move |conn| {
            Box::pin(async move {
                // Expired sessions are useless; sweeping them here keeps the
                // table small without a background job.
                sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
                    .bind(ts(session.created_at))
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(
                    "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
                     VALUES (?, ?, ?, ?)",
                )
                .bind(&session.token_hash)
                .bind(id(session.user_id))
                .bind(ts(session.created_at))
                .bind(ts(session.expires_at))
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
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
        let token_hash = token_hash.to_vec();
        self.write(move |conn| {
            Box::pin(async move {
                let done = sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
                    .bind(token_hash)
                    .execute(conn)
                    .await?;
                Ok(done.rows_affected() > 0)
            })
        })
        .await
    }
}

#[async_trait]
impl LoginThrottleRepository for SqliteStore {
    async fn reserve(
        &self,
        key: &str,
        now: DateTime<Utc>,
        limits: ThrottleLimits,
    ) -> DataResult<Option<DateTime<Utc>>> {
        let (key, now) = (key.to_owned(), micros(now));
        // The writer's immediate transaction makes read-count-write atomic
        // per key across every process on the file.
        self.write(move |conn| {
            Box::pin(async move {
                sweep(conn, now, limits).await?;
                let previous = load(conn, &key).await?;
                let (next, refused) = Throttle::reserve(previous, now, limits);
                store(conn, &key, next).await?;
                Ok(refused)
            })
        })
        .await
    }

    async fn record_failure(
        &self,
        key: &str,
        now: DateTime<Utc>,
        limits: ThrottleLimits,
    ) -> DataResult<Option<DateTime<Utc>>> {
        let key = key.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                // No record: a success reset the key meanwhile; nothing to
                // add to.
                let Some(previous) = load(conn, &key).await? else {
                    return Ok(None);
                };
                let (next, locked) = previous.fail(micros(now), limits);
                store(conn, &key, next).await?;
                Ok(locked)
            })
        })
        .await
    }

    async fn succeed(&self, key: &str, now: DateTime<Utc>) -> DataResult<Option<DateTime<Utc>>> {
        let key = key.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let locked = load(conn, &key).await?.and_then(|t| t.lock_end(now));
                if locked.is_none() {
                    sqlx::query("DELETE FROM login_throttle WHERE throttle_key = ?")
                        .bind(&key)
                        .execute(conn)
                        .await?;
                }
                Ok(locked)
            })
        })
        .await
    }
}

/// Deletes a few expired records, so keys that are never used again (made-up
/// emails) do not pile up.
async fn sweep(
    conn: &mut SqliteConnection,
    now: DateTime<Utc>,
    limits: ThrottleLimits,
) -> DataResult<()> {
    sqlx::query(
        "DELETE FROM login_throttle WHERE throttle_key IN (\
           SELECT throttle_key FROM login_throttle \
           WHERE window_start <= ? AND (locked_until IS NULL OR locked_until <= ?) LIMIT ?)",
    )
    .bind(ts(expired_before(now, limits)))
    .bind(ts(now))
    .bind(SWEEP_BATCH)
    .execute(conn)
    .await?;
    Ok(())
}

/// The record of `key`, if any.
async fn load(conn: &mut SqliteConnection, key: &str) -> DataResult<Option<Throttle>> {
    let row = sqlx::query(
        "SELECT failures, window_start, locked_until FROM login_throttle \
         WHERE throttle_key = ?",
    )
    .bind(key)
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let start: String = row.try_get("window_start")?;
    let until: Option<String> = row.try_get("locked_until")?;
    Ok(Some(Throttle {
        failures: row.try_get("failures")?,
        window_start: read_ts("login_throttle.window_start", &start)?,
        locked_until: until
            .map(|text| read_ts("login_throttle.locked_until", &text))
            .transpose()?,
    }))
}

/// Writes the record of `key`.
async fn store(conn: &mut SqliteConnection, key: &str, record: Throttle) -> DataResult<()> {
    sqlx::query(
        "INSERT INTO login_throttle (throttle_key, failures, window_start, locked_until) \
         VALUES (?, ?, ?, ?) ON CONFLICT (throttle_key) DO UPDATE SET \
         failures = excluded.failures, window_start = excluded.window_start, \
         locked_until = excluded.locked_until",
    )
    .bind(key)
    .bind(record.failures)
    .bind(ts(record.window_start))
    .bind(record.locked_until.map(ts))
    .execute(conn)
    .await?;
    Ok(())
}
