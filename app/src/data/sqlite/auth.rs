//! Sessions and failed-login throttling on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use super::codec::{UserRow, id, read_ts, ts};
use super::writes::Write;
use crate::data::rules::micros;
use crate::data::throttle::{SWEEP_BATCH, Throttle, expired_before};
use crate::data::{
    DataResult, LoginThrottleRepository, NewSession, SessionRepository, ThrottleLimits, User,
};

/// A session's user and when the session ends.
#[derive(sqlx::FromRow)]
struct SessionRow {
    /// The user's columns.
    #[sqlx(flatten)]
    user: UserRow,
    /// `sessions.expires_at`.
    session_expires_at: String,
}

#[async_trait]
impl SessionRepository for SqliteStore {
    async fn create(&self, session: NewSession) -> DataResult<()> {
        self.submit(Write::CreateSession(session)).await
    }

    async fn user_for(&self, token_hash: &[u8], now: DateTime<Utc>) -> DataResult<Option<User>> {
        let load = async {
            let row: Option<SessionRow> = sqlx::query_as(
                "SELECT u.*, s.expires_at AS session_expires_at \
                 FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.token_hash = ? AND s.expires_at > ?",
            )
            .bind(token_hash)
            .bind(ts(now))
            .fetch_optional(&self.pool)
            .await?;
            row.map(|row| {
                let ends = read_ts("sessions.expires_at", &row.session_expires_at)?;
                Ok((row.user.into_user()?, ends))
            })
            .transpose()
        };
        self.sessions.user_for(token_hash, now, load).await
    }

    async fn revoke(&self, token_hash: &[u8]) -> DataResult<bool> {
        self.submit(Write::RevokeSession(token_hash.to_vec())).await
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
        let key = key.to_owned();
        self.submit(Write::ReserveLogin { key, now, limits }).await
    }

    async fn record_failure(
        &self,
        key: &str,
        now: DateTime<Utc>,
        limits: ThrottleLimits,
    ) -> DataResult<Option<DateTime<Utc>>> {
        let key = key.to_owned();
        self.submit(Write::RecordLoginFailure { key, now, limits })
            .await
    }

    async fn succeed(&self, key: &str, now: DateTime<Utc>) -> DataResult<Option<DateTime<Utc>>> {
        let key = key.to_owned();
        self.submit(Write::LoginSucceeded { key, now }).await
    }
}

/// Stores a session; expired sessions are useless, and sweeping them here
/// keeps the table small without a background job.
pub(super) fn create_session(conn: &Connection, session: NewSession) -> DataResult<()> {
    conn.prepare_cached("DELETE FROM sessions WHERE expires_at <= ?")?
        .execute([ts(session.created_at)])?;
    conn.prepare_cached(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
         VALUES (?, ?, ?, ?)",
    )?
    .execute(params![
        session.token_hash,
        id(session.user_id),
        ts(session.created_at),
        ts(session.expires_at),
    ])?;
    Ok(())
}

/// Deletes the session of `token_hash`; whether there was one.
pub(super) fn revoke(conn: &Connection, token_hash: &[u8]) -> DataResult<bool> {
    let deleted = conn
        .prepare_cached("DELETE FROM sessions WHERE token_hash = ?")?
        .execute([token_hash])?;
    Ok(deleted > 0)
}

/// Counts an attempt of `key`; until when it is refused, if it is. The
/// writer's immediate transaction makes read-count-write atomic per key
/// across every process on the file.
pub(super) fn reserve(
    conn: &Connection,
    key: &str,
    now: DateTime<Utc>,
    limits: ThrottleLimits,
) -> DataResult<Option<DateTime<Utc>>> {
    let now = micros(now);
    sweep(conn, now, limits)?;
    let previous = load(conn, key)?;
    let (next, refused) = Throttle::reserve(previous, now, limits);
    store(conn, key, next)?;
    Ok(refused)
}

/// Adds a failure to the record of `key`; until when it is now locked, if
/// it is. No record: a success reset the key meanwhile; nothing to add to.
pub(super) fn record_failure(
    conn: &Connection,
    key: &str,
    now: DateTime<Utc>,
    limits: ThrottleLimits,
) -> DataResult<Option<DateTime<Utc>>> {
    let Some(previous) = load(conn, key)? else {
        return Ok(None);
    };
    let (next, locked) = previous.fail(micros(now), limits);
    store(conn, key, next)?;
    Ok(locked)
}

/// Clears the record of `key` after a success, unless it is locked; until
/// when it is locked, if it is.
pub(super) fn succeed(
    conn: &Connection,
    key: &str,
    now: DateTime<Utc>,
) -> DataResult<Option<DateTime<Utc>>> {
    let locked = load(conn, key)?.and_then(|t| t.lock_end(now));
    if locked.is_none() {
        conn.prepare_cached("DELETE FROM login_throttle WHERE throttle_key = ?")?
            .execute([key])?;
    }
    Ok(locked)
}

/// Deletes a few expired records, so keys that are never used again (made-up
/// emails) do not pile up.
fn sweep(conn: &Connection, now: DateTime<Utc>, limits: ThrottleLimits) -> DataResult<()> {
    conn.prepare_cached(
        "DELETE FROM login_throttle WHERE throttle_key IN (\
           SELECT throttle_key FROM login_throttle \
           WHERE window_start <= ? AND (locked_until IS NULL OR locked_until <= ?) LIMIT ?)",
    )?
    .execute(params![
        ts(expired_before(now, limits)),
        ts(now),
        SWEEP_BATCH
    ])?;
    Ok(())
}

/// The record of `key`, if any.
fn load(conn: &Connection, key: &str) -> DataResult<Option<Throttle>> {
    let row: Option<(_, String, Option<String>)> = conn
        .prepare_cached(
            "SELECT failures, window_start, locked_until FROM login_throttle \
             WHERE throttle_key = ?",
        )?
        .query_row([key], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .optional()?;
    let Some((failures, start, until)) = row else {
        return Ok(None);
    };
    Ok(Some(Throttle {
        failures,
        window_start: read_ts("login_throttle.window_start", &start)?,
        locked_until: until
            .map(|text| read_ts("login_throttle.locked_until", &text))
            .transpose()?,
    }))
}

/// Writes the record of `key`.
fn store(conn: &Connection, key: &str, record: Throttle) -> DataResult<()> {
    conn.prepare_cached(
        "INSERT INTO login_throttle (throttle_key, failures, window_start, locked_until) \
         VALUES (?, ?, ?, ?) ON CONFLICT (throttle_key) DO UPDATE SET \
         failures = excluded.failures, window_start = excluded.window_start, \
         locked_until = excluded.locked_until",
    )?
    .execute(params![
        key,
        record.failures,
        ts(record.window_start),
        record.locked_until.map(ts),
    ])?;
    Ok(())
}
