//! `APP_DB_SLOW_STATEMENT`: a statement that runs longer than the threshold
//! is logged as a warning with its time and the id of the request that ran
//! it, a read and a write alike (a write runs in a task of its own, which
//! must carry the request's id); quick statements are not logged.

use std::time::Duration;

use sqlx::Connection as _;

use super::http::{Connection, register_and_login};
use super::worker::{Worker, listener};

/// Sends `method path` with `body` (JSON) as request `id`, and its status.
fn send_as(
    conn: &mut Connection,
    id: &str,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> u16 {
    conn.send(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nX-Request-Id: {id}\r\n\
             Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    conn.read_response().status
}

/// Holds an exclusive lock on the posts table for `hold` in another
/// session, so that the statements of requests sent meanwhile wait.
fn lock_posts_for(url: &str, hold: Duration) -> std::thread::JoinHandle<()> {
    let url = url.to_owned();
    let (taken, wait) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let mut session = sqlx::PgConnection::connect(&url).await.unwrap();
            for sql in ["BEGIN", "LOCK TABLE posts IN ACCESS EXCLUSIVE MODE"] {
                sqlx::query(sql).execute(&mut session).await.unwrap();
            }
            taken.send(()).unwrap();
            tokio::time::sleep(hold).await;
            sqlx::query("ROLLBACK").execute(&mut session).await.unwrap();
        });
    });
    wait.recv().expect("the lock is taken");
    holder
}

#[test]
fn slow_reads_and_writes_are_logged_with_their_request_id_and_quick_ones_are_not() {
    super::on_postgres(|url| {
        let dir = tempfile::tempdir().unwrap();
        let socket = listener();
        let env = [("DATABASE_URL", url), ("APP_DB_SLOW_STATEMENT", "150ms")];
        let mut worker = Worker::start_with(dir.path(), &[(&socket, "http")], "slow", &env);
        let mut conn = Connection::open(worker.addr);
        let token = register_and_login(&mut conn, "slow@example.com");
        let post = r#"{"title":"Slow","content":"Waits on a lock.","status":"published"}"#;
        assert_eq!(
            send_as(&mut conn, "quick-write", "POST", "/api/posts", &token, post),
            201
        );
        let held = lock_posts_for(url, Duration::from_millis(400));
        assert_eq!(
            send_as(
                &mut conn,
                "slow-read",
                "GET",
                "/api/posts?limit=5",
                &token,
                ""
            ),
            200
        );
        held.join().unwrap();
        let held = lock_posts_for(url, Duration::from_millis(400));
        let post = r#"{"title":"Slower","content":"Waits too.","status":"published"}"#;
        assert_eq!(
            send_as(&mut conn, "slow-write", "POST", "/api/posts", &token, post),
            201
        );
        held.join().unwrap();
        worker.signal(libc::SIGTERM);
        assert_eq!(worker.wait_exit(Duration::from_secs(10)).code(), Some(0));

        let log = std::fs::read_to_string(dir.path().join("slow.log")).unwrap();
        let slow: Vec<serde_json::Value> = log
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|line| {
                line["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("slow statement"))
            })
            .collect();
        let ids: Vec<&str> = slow
            .iter()
            .map(|line| {
                assert_eq!(line["level"], "WARN", "{line}");
                line["span"]["request_id"].as_str().unwrap_or("(none)")
            })
            .collect();
        assert!(
            ids.contains(&"slow-read"),
            "the read waiting on the lock: {ids:?}\n{log}"
        );
        assert!(
            ids.contains(&"slow-write"),
            "the write waiting on the lock: {ids:?}\n{log}"
        );
        assert!(
            ids.iter().all(|id| id.starts_with("slow-")),
            "only statements that waited are logged: {ids:?}"
        );
    });
}
