//! Where the data tests run: a temp SQLite file, or a fresh PostgreSQL
//! schema; plus small builders for users and posts.

use std::future::Future;

use app::data::{
    NewPost, NewUser, PageRequest, Post, PostQuery, PostStatus, Repositories, User, connect,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// The variable naming the PostgreSQL server the tests may use.
const PG_VARIABLE: &str = "TEST_DATABASE_URL";

/// Runs `test` on a migrated database in a fresh SQLite file.
pub async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Repositories, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("temp dir");
    let url = sqlite_url(&dir);
    test(migrated(&url).await, url).await;
}

/// Runs `test` on a second store on a fresh SQLite file while the first,
/// opened before it, stays open: the first is the file's writer host, so
/// every write of the store under test travels to it and back, as a
/// worker's does when another worker hosts.
pub async fn on_sqlite_guest<F, Fut>(test: F)
where
    F: FnOnce(Repositories, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("temp dir");
    let url = sqlite_url(&dir);
    let host = migrated(&url).await;
    let repos = connect(&url).await.expect("open SQLite again");
    test(repos, url).await;
    host.database.close().await;
}

/// The repositories on `url`, migrated.
async fn migrated(url: &str) -> Repositories {
    let repos = connect(url).await.expect("open the database");
    repos
        .database
        .migrate()
        .await
        .expect("migrate the database");
    repos
}

/// The URL of `app.db` inside `dir`.
pub fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}/app.db", dir.path().display())
}

/// Runs `test` on a migrated, fresh PostgreSQL schema, or says it skipped.
pub async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(Repositories, String) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    in_postgres_schema(|url| async move {
        let repos = migrated(&url).await;
        test(repos, url).await;
    })
    .await;
}

/// Runs `test` with the URL of a fresh, empty PostgreSQL schema (for a
/// test that opens the database its own way), or says it skipped. The
/// test runs in its own task, so the schema is dropped even when it fails.
pub async fn in_postgres_schema<F, Fut>(test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let outcome = tokio::spawn(test(schema.url())).await;
    schema.drop().await;
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

/// A schema of its own on the test server, so tests never collide.
pub struct PgSchema {
    /// The server's URL as given.
    server: String,
    /// `t_` and a UUID.
    name: String,
}

impl PgSchema {
    /// Creates a schema, or `None` (saying so) when no server is configured.
    pub async fn create() -> Option<Self> {
        let Ok(server) = std::env::var(PG_VARIABLE) else {
            println!("skipped: {PG_VARIABLE} not set");
            return None;
        };
        let name = format!("t_{}", Uuid::now_v7().simple());
        let mut conn = PgConnection::connect(&server)
            .await
            .expect("reach PostgreSQL");
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut conn)
            .await
            .expect("create schema");
        conn.close().await.ok();
        Some(Self { server, name })
    }

    /// The server URL with this schema as the search path.
    pub fn url(&self) -> String {
        let separator = if self.server.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}options=-c%20search_path%3D{}",
            self.server, self.name
        )
    }

    /// Drops the schema and everything in it.
    pub async fn drop(self) {
        let mut conn = PgConnection::connect(&self.server)
            .await
            .expect("reach PostgreSQL");
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.name))
            .execute(&mut conn)
            .await
            .expect("drop schema");
        conn.close().await.ok();
    }
}

/// A fixed instant plus `seconds`, with sub-microsecond digits that the
/// database must drop.
pub fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap()
        + Duration::seconds(seconds)
        + Duration::nanoseconds(123_456_789)
}

/// `at(seconds)` as the database returns it (microseconds).
pub fn stored(seconds: i64) -> DateTime<Utc> {
    at(seconds) - Duration::nanoseconds(789)
}

/// A user to insert with this email.
pub fn new_user(email: &str) -> NewUser {
    NewUser {
        id: Uuid::now_v7(),
        email: email.to_owned(),
        name: format!("Name of {email}"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        created_at: at(0),
    }
}

/// Inserts a user with this email.
pub async fn user(repos: &Repositories, email: &str) -> User {
    repos
        .users
        .create(new_user(email))
        .await
        .expect("create user")
}

/// A post to insert, created at `at(seconds)`.
pub fn new_post(author: &User, title: &str, status: PostStatus, seconds: i64) -> NewPost {
    NewPost {
        id: Uuid::now_v7(),
        slug_base: title.to_lowercase().replace(' ', "-"),
        title: title.to_owned(),
        content: format!("The content of {title}."),
        status,
        tags: Vec::new(),
        author_id: author.id,
        created_at: at(seconds),
    }
}

/// Inserts a post with these tags.
pub async fn post(
    repos: &Repositories,
    author: &User,
    title: &str,
    status: PostStatus,
    seconds: i64,
    tags: &[&str],
) -> Post {
    let mut new = new_post(author, title, status, seconds);
    new.tags = tags.iter().map(|tag| (*tag).to_owned()).collect();
    repos.posts.create(new).await.expect("create post")
}

/// A query for what an anonymous reader sees, first page of 100.
pub fn public() -> PostQuery {
    PostQuery {
        status: None,
        author: None,
        tag: None,
        search: None,
        drafts_of: None,
        all_drafts: false,
        page: page(1, 100),
    }
}

/// A page request.
pub fn page(page: u32, limit: u32) -> PageRequest {
    PageRequest { page, limit }
}
