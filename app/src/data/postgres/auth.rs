//! Sessions and failed-login throttling on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row};

use super::PgStore;
use super::codec::UserRow;
use crate::data::rules::micros;
use crate::data::throttle::{SWEEP_BATCH, Throttle, expired_before};
use crate::data::{
    DataError, DataResult, LoginThrottleRepository, NewSession, SessionRepository, ThrottleLimits,
    User,
};

#[async_trait]
impl SessionRepository for PgStore {
    async fn create(&self, session: NewSession) -> DataResult<()> {
        self.write(move |conn| {
            Box::pin(async move {
                // Expired sessions are useless; sweeping them here keeps the
                // table small without a background job.
                sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                    .bind(session.created_at)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(
                    "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&session.token_hash)
                .bind(session.user_id)
                .bind(micros(session.created_at))
                .bind(micros(session.expires_at))
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn user_for(&self, token_hash: &[u8], now: DateTime<Utc>) -> DataResult<Option<User>> {
        let token_hash = token_hash.to_vec();
        self.read(move |pool| {
            let token_hash = token_hash.clone();
            Box::pin(async move {
                let row: Option<UserRow> = sqlx::query_as(
                    "SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id \
                     WHERE s.token_hash = $1 AND s.expires_at > $2",
                )
                .bind(token_hash)
                .bind(micros(now))
                .fetch_optional(pool)
                .await?;
                Ok(row.map(User::from))
            })
        })
        .await
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
    async fn reserve(
        &self,
        key: &str,
        now: DateTime<Utc>,
        limits: ThrottleLimits,
    ) -> DataResult<Option<DateTime<Utc>>> {
        let (key, now) = (key.to_owned(), micros(now));
        let refused = self
            .write(move |conn| {
                Box::pin(async move {
                    let previous = upsert_locked(conn, &key, now).await?;
                    let (next, refused) = Throttle::reserve(Some(previous), now, limits);
                    store(conn, &key, next).await?;
                    Ok(refused)
                })
            })
            .await?;
        sweep(&self.pool, now, limits).await?;
        Ok(refused)
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
                let Some(previous) = load_locked(conn, &key).await? else {
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
                let locked = load_locked(conn, &key).await?.and_then(|t| t.lock_end(now));
                if locked.is_none() {
                    sqlx::query("DELETE FROM login_throttle WHERE throttle_key = $1")
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
/// emails) do not pile up. On its own, after the key's transaction, and
/// skipping rows others hold: it never waits on a lock, so it can never be
/// part of a deadlock with attempts in flight.
async fn sweep(pool: &PgPool, now: DateTime<Utc>, limits: ThrottleLimits) -> DataResult<()> {
    sqlx::query(
        "DELETE FROM login_throttle WHERE throttle_key IN (\
           SELECT throttle_key FROM login_throttle \
           WHERE window_start <= $1 AND (locked_until IS NULL OR locked_until <= $2) \
           LIMIT $3 FOR UPDATE SKIP LOCKED)",
    )
    .bind(micros(expired_before(now, limits)))
    .bind(now)
    .bind(SWEEP_BATCH)
    .execute(pool)
    .await?;
    Ok(())
}

/// The record of `key`, created when missing, locked until the
/// transaction ends: one statement, so no sweep can delete the row between
/// its creation and its lock (`ON CONFLICT DO NOTHING` takes no lock, and
/// a row swept between it and `SELECT ... FOR UPDATE` left the attempt
/// counted into nothing). A new row (nothing counted, window from `now`)
/// is the same as none. Concurrent attempts for one key, on every worker,
/// are counted one after the other on this lock.
async fn upsert_locked(
    conn: &mut PgConnection,
    key: &str,
    now: DateTime<Utc>,
) -> DataResult<Throttle> {
    let row = sqlx::query(
        "INSERT INTO login_throttle (throttle_key, failures, window_start) VALUES ($1, 0, $2) \
         ON CONFLICT (throttle_key) DO UPDATE SET throttle_key = EXCLUDED.throttle_key \
         RETURNING failures, window_start, locked_until",
    )
    .bind(key)
    .bind(now)
    .fetch_one(conn)
    .await?;
    throttle(&row)
}

/// A `login_throttle` row as the rule's record.
fn throttle(row: &sqlx::postgres::PgRow) -> DataResult<Throttle> {
    Ok(Throttle {
        failures: i64::from(row.try_get::<i32, _>("failures")?),
        window_start: row.try_get("window_start")?,
        locked_until: row.try_get("locked_until")?,
    })
}

/// The record of `key`, if any, locked until the transaction ends.
async fn load_locked(conn: &mut PgConnection, key: &str) -> DataResult<Option<Throttle>> {
    let row = sqlx::query(
        "SELECT failures, window_start, locked_until FROM login_throttle \
         WHERE throttle_key = $1 FOR UPDATE",
    )
    .bind(key)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(throttle).transpose()
}

/// Writes the record of `key`, whose row exists and is locked; a row that
/// is gone all the same fails the call rather than lose the count.
async fn store(conn: &mut PgConnection, key: &str, record: Throttle) -> DataResult<()> {
    let stored = sqlx::query(
        "UPDATE login_throttle SET failures = $2, window_start = $3, locked_until = $4 \
         WHERE throttle_key = $1",
    )
    .bind(key)
    .bind(i32::try_from(record.failures).unwrap_or(i32::MAX))
    .bind(record.window_start)
    .bind(record.locked_until)
    .execute(conn)
    .await?;
    if stored.rows_affected() != 1 {
        return Err(DataError::Unavailable(
            format!(
                "the login throttle record of a key vanished while locked ({} rows)",
                stored.rows_affected()
            )
            .into(),
        ));
    }
    Ok(())
}
