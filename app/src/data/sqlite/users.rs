//! Users, their roles and public profiles on SQLite.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::{FromRow, Row};
use uuid::Uuid;

use super::SqliteStore;
use super::codec::{UserRow, id, ts};
use super::writes::Write;
use crate::data::common::USER_COLUMNS;
use crate::data::rules::{count, email_key};
use crate::data::{DataError, DataResult, NewUser, Profile, Role, User, UserRepository};

#[async_trait]
impl UserRepository for SqliteStore {
    async fn create(&self, new: NewUser) -> DataResult<User> {
        self.submit(Write::CreateUser(new)).await
    }

    async fn by_id(&self, user: Uuid) -> DataResult<Option<User>> {
        let row: Option<UserRow> =
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
                .bind(id(user))
                .fetch_optional(&self.pool)
                .await?;
        row.map(UserRow::into_user).transpose()
    }

    async fn by_email(&self, email: &str) -> DataResult<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE email_key = ?"
        ))
        .bind(email_key(email))
        .fetch_optional(&self.pool)
        .await?;
        row.map(UserRow::into_user).transpose()
    }

    async fn set_role(&self, email: &str, role: Role) -> DataResult<User> {
        let email_key = email_key(email);
        self.submit(Write::SetRole { email_key, role }).await
    }

    async fn profile(&self, user: Uuid) -> DataResult<Option<Profile>> {
        let row = sqlx::query(
            "SELECT u.*, \
               (SELECT COUNT(*) FROM posts p \
                 WHERE p.author_id = u.id AND p.status = 'published') AS post_count, \
               (SELECT COUNT(*) FROM follows f WHERE f.author_id = u.id) AS follower_count \
             FROM users u WHERE u.id = ?",
        )
        .bind(id(user))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(Profile {
            user: UserRow::from_row(&row)?.into_user()?,
            post_count: count(row.try_get("post_count")?),
            follower_count: count(row.try_get("follower_count")?),
        }))
    }
}

/// Inserts a user with the role `user`.
pub(super) fn create(conn: &Connection, new: NewUser) -> DataResult<User> {
    let row = conn
        .prepare_cached(&format!(
            "INSERT INTO users (id, email, email_key, name, password_hash, role, \
               created_at) \
             VALUES (?, ?, ?, ?, ?, 'user', ?) RETURNING {USER_COLUMNS}"
        ))?
        .query_row(
            params![
                id(new.id),
                new.email,
                email_key(&new.email),
                new.name,
                new.password_hash,
                ts(new.created_at),
            ],
            UserRow::read,
        )?;
    row.into_user()
}

/// Gives the user with `email_key` the role `role`.
pub(super) fn set_role(conn: &Connection, email_key: &str, role: Role) -> DataResult<User> {
    let row = conn
        .prepare_cached(&format!(
            "UPDATE users SET role = ? WHERE email_key = ? RETURNING {USER_COLUMNS}"
        ))?
        .query_row([role.as_str(), email_key], UserRow::read)
        .optional()?;
    row.ok_or(DataError::NotFound)?.into_user()
}
