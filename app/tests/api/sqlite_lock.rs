//! A SQLite file locked by another process's exclusive transaction: a
//! write waits up to the busy timeout, then is answered 503 with
//! `Retry-After`; reads go on (WAL); once the lock is released writes
//! succeed again, and the file is intact.

use std::sync::Arc;
use std::time::{Duration, Instant};

use app::data::{Timeouts, connect_with};
use axum::http::StatusCode;
use rusqlite::Connection;

use super::harness::TestApp;
use crate::data::harness::sqlite_url;

/// The busy timeout the test sets (`APP_DB_STATEMENT_TIMEOUT`): how long a
/// write waits on a lock.
const BUSY: Duration = Duration::from_secs(1);
/// Slack over it on a loaded machine: well under the 5 s default, so a
/// setting that was not applied shows.
const SLACK: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exclusive_lock_is_waited_out_then_503_and_nothing_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let timeouts = Timeouts {
        statement: BUSY,
        ..Timeouts::default()
    };
    let repos = connect_with(&url, timeouts).await.expect("open SQLite");
    repos.database.migrate().await.expect("migrate");
    let app = Arc::new(TestApp::over(repos, url));
    let ann = app.user("ann").await;
    let post = app.new_post(&ann, "Before the lock", "published").await;
    let path = format!("/api/posts/{}", post["id"].as_str().unwrap());
    let file = dir.path().join("app.db");

    // Another process's connection (its own file descriptors and locks).
    let other = Connection::open(&file).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let started = Instant::now();
    let body = serde_json::json!({"title": "During the lock", "content": "Waits its turn.", "status": "published"});
    let write = tokio::spawn({
        let (app, token) = (Arc::clone(&app), ann.token.clone());
        async move { app.post("/api/posts", Some(&token), body).await }
    });
    assert_eq!(
        app.get(&path, None).await.status,
        StatusCode::OK,
        "reads go on"
    );
    let write = write.await.unwrap();
    let waited = started.elapsed();
    write.problem(503);
    assert!(
        write
            .header("retry-after")
            .parse::<u64>()
            .is_ok_and(|s| s >= 1)
    );
    assert!(
        waited >= BUSY - Duration::from_millis(100),
        "gave up early: {waited:?}"
    );
    assert!(waited < BUSY + SLACK, "waited too long: {waited:?}");

    other.execute_batch("ROLLBACK").unwrap();
    let after = app.new_post(&ann, "After the lock", "published").await;
    assert_eq!(after["status"], "published");
    let check: String = other
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
