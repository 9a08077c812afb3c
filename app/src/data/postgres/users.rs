//! Users, their roles and public profiles on PostgreSQL.

use async_trait::async_trait;
use sqlx::{FromRow, PgPool, Row};
use uuid::Uuid;

use super::PgStore;
use super::codec::UserRow;
use crate::data::common::USER_COLUMNS;
use crate::data::rules::{count, email_key, micros};
use crate::data::{DataError, DataResult, NewUser, Profile, Role, User, UserRepository};

#[async_trait]
impl UserRepository for PgStore {
    async fn create(&self, new: NewUser) -> DataResult<User> {
        let row: UserRow = sqlx::query_as(&format!(
            "INSERT INTO users (id, email, email_key, name, password_hash, role, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'user', $6) RETURNING {USER_COLUMNS}"
        ))
        .bind(new.id)
        .bind(&new.email)
        .bind(email_key(&new.email))
        .bind(&new.name)
        .bind(&new.password_hash)
        .bind(micros(new.created_at))
        .fetch_one(&self.pool)
        .await?;
        Ok(row.into())
    }

    async fn by_id(&self, id: Uuid) -> DataResult<Option<User>> {
        self.read(move |pool| {
            Box::pin(async move {
                let row: Option<UserRow> =
                    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(pool)
                        .await?;
                Ok(row.map(User::from))
            })
        })
        .await
    }

    async fn by_email(&self, email: &str) -> DataResult<Option<User>> {
        let key = email_key(email);
        self.read(move |pool| {
            let key = key.clone();
            Box::pin(async move {
                let row: Option<UserRow> = sqlx::query_as(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE email_key = $1"
                ))
                .bind(key)
                .fetch_optional(pool)
                .await?;
                Ok(row.map(User::from))
            })
        })
        .await
    }

    async fn set_role(&self, email: &str, role: Role) -> DataResult<User> {
        let row: Option<UserRow> = sqlx::query_as(&format!(
            "UPDATE users SET role = $1 WHERE email_key = $2 RETURNING {USER_COLUMNS}"
        ))
        .bind(role.as_str())
        .bind(email_key(email))
        .fetch_optional(&self.pool)
        .await?;
        row.map(User::from).ok_or(DataError::NotFound)
    }

    async fn profile(&self, id: Uuid) -> DataResult<Option<Profile>> {
        self.read(move |pool| Box::pin(profile(pool, id))).await
    }
}

/// A user with the counts of their published posts and followers.
async fn profile(pool: &PgPool, id: Uuid) -> DataResult<Option<Profile>> {
    {
        let row = sqlx::query(
            "SELECT u.*, \
               (SELECT COUNT(*) FROM posts p \
                 WHERE p.author_id = u.id AND p.status = 'published') AS post_count, \
               (SELECT COUNT(*) FROM follows f WHERE f.author_id = u.id) AS follower_count \
             FROM users u WHERE u.id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(Profile {
            user: UserRow::from_row(&row)?.into(),
            post_count: count(row.try_get("post_count")?),
            follower_count: count(row.try_get("follower_count")?),
        }))
    }
}
