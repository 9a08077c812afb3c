//! A private Redis killed (SIGKILL) and hung (SIGSTOP) under reads and
//! writes: the shared cache is bypassed with no 5xx and no request waiting
//! on it, and is used again once it is back (seen in the private server's
//! own key count).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::infrastructure::cache::shared::RedisCache;
use axum::http::StatusCode;

use super::harness::{TestApp, TestUser};

/// The longest a request may take while Redis is away: its command
/// timeout (250 ms) is what a hung Redis may cost, plus slack.
const BYPASS_BOUND: Duration = Duration::from_secs(1);
/// How soon a returned Redis is used again: the cache rests 1 s after a
/// failure, then tries again.
const BACK_WITHIN: Duration = Duration::from_secs(5);

/// A `redis-server` of the test's own, killed by pid when dropped.
struct Server {
    port: u16,
    child: Child,
}

impl Server {
    /// Starts one on `port` (a free one when `None`), or `None` (saying
    /// so) when `redis-server` is not installed.
    fn start(port: Option<u16>) -> Option<Self> {
        let port = port.unwrap_or_else(|| {
            let probe = TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        });
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match child {
            Ok(child) => Some(Self { port, child }),
            Err(error) => {
                println!("skipped: cannot start redis-server ({error})");
                None
            }
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Waits until it answers, and returns a connection to it.
    async fn ready(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(self.url()).unwrap();
        let started = Instant::now();
        loop {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            {
                return conn;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on the pid of a child this test started and has
        // not reaped yet, so the pid is still its.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }
}

/// SIGKILL, and reaped.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Keys in the private Redis.
async fn keys(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    redis::cmd("DBSIZE").query_async(conn).await.unwrap()
}

/// A write (a new content generation, so new cache keys) then two reads of
/// it: every answer 2xx and none waiting on the cache.
async fn load(app: &TestApp, user: &TestUser, n: usize) {
    let body = serde_json::json!({"title": format!("Cached {n}"), "content": "Some content.", "status": "published"});
    let started = Instant::now();
    let written = app.post("/api/posts", Some(&user.token), body).await;
    assert_eq!(written.status, StatusCode::CREATED);
    let path = format!(
        "/api/posts/{}",
        written.json()["data"]["id"].as_str().unwrap()
    );
    for _ in 0..2 {
        let read = app.get(&path, None).await;
        assert_eq!(read.status, StatusCode::OK);
        assert_eq!(app.get("/api/posts", None).await.status, StatusCode::OK);
    }
    assert!(
        started.elapsed() < BYPASS_BOUND,
        "waited on the cache: {:?}",
        started.elapsed()
    );
}

/// Loads until the private Redis holds keys again.
async fn used_again(app: &TestApp, user: &TestUser, conn: &mut redis::aio::MultiplexedConnection) {
    let started = Instant::now();
    let mut n = 1000;
    while keys(conn).await == 0 {
        assert!(
            started.elapsed() < BACK_WITHIN,
            "the cache was not used again"
        );
        n += 1;
        load(app, user, n).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_or_hung_is_bypassed_then_used_again() {
    let Some(server) = Server::start(None) else {
        return;
    };
    let mut conn = server.ready().await;
    let cache = Arc::new(RedisCache::connect(&server.url()).unwrap());
    let app = TestApp::sharing(cache).await;
    let ann = app.user("ann").await;
    load(&app, &ann, 0).await;
    assert!(keys(&mut conn).await > 0, "the cache is not used");

    // Killed: bypassed, then a new server on the same port is used.
    let port = server.port;
    drop(server);
    for n in 1..20 {
        load(&app, &ann, n).await;
    }
    let server = Server::start(Some(port)).expect("restart redis-server");
    let mut conn = server.ready().await;
    used_again(&app, &ann, &mut conn).await;

    // Hung: commands time out, requests go on; used again once resumed.
    server.signal(libc::SIGSTOP);
    for n in 100..110 {
        load(&app, &ann, n).await;
    }
    server.signal(libc::SIGCONT);
    redis::cmd("FLUSHALL")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    used_again(&app, &ann, &mut conn).await;
}
