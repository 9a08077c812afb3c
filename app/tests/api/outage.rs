//! A database that goes away: requests are answered 503 problem+json
//! (never 401, never a hang, never a driver message), `/health` fails with
//! 503, and once PostgreSQL is reachable again the same worker recovers
//! without a restart.

use std::net::SocketAddr;
use std::str::FromStr as _;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::harness::{Reply, TestApp};
use crate::data::harness::PgSchema;

/// How long any request may take while the database is down: the pool's
/// acquire timeout (3 s) plus slack for a loaded machine.
const ANSWER_BOUND: Duration = Duration::from_secs(10);

/// Asserts a 503 problem that says nothing about the database and tells
/// when to retry.
#[track_caller]
fn unavailable(reply: &Reply) {
    assert!(
        reply
            .header("retry-after")
            .parse::<u64>()
            .is_ok_and(|s| s >= 1),
        "no Retry-After: {:?}",
        reply.headers
    );
    let problem = reply.problem(503).to_string().to_lowercase();
    for leak in ["sqlite", "postgres", "pool", "connection", "sql", "closed"] {
        assert!(!problem.contains(leak), "{leak} leaked: {problem}");
    }
}

/// Asserts `/health` (GET and HEAD) reports the database as failed.
async fn health_fails(app: &TestApp) {
    let health = app.get("/health", None).await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.header("content-type"), "application/health+json");
    assert_eq!(health.header("retry-after"), "1");
    let body = health.json();
    assert_eq!(body["status"], "fail");
    assert_eq!(body["checks"]["database:responseTime"][0]["status"], "fail");
    let head = app.call(Method::HEAD, "/health", None, &[], None).await;
    assert_eq!(head.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(head.header("retry-after"), "1");
    assert!(head.body.is_empty());
}

#[tokio::test]
async fn a_closed_database_is_503_everywhere() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let post = app.new_post(&ann, "Before the outage", "published").await;
    let path = format!("/api/posts/{}", post["id"].as_str().unwrap());
    app.repos.database.close().await;

    health_fails(&app).await;
    unavailable(&app.get(&path, None).await);
    unavailable(&app.get("/api/posts", None).await);
    unavailable(&app.get("/api/tags", None).await);
    // A token that cannot be checked is not a bad token: 503, not 401.
    unavailable(&app.get("/api/users/me", Some(&ann.token)).await);
    let login = json!({"email": ann.email, "password": "correct horse battery"});
    unavailable(&app.post("/api/auth/login", None, login).await);
    assert_eq!(app.get("/metrics", None).await.status, StatusCode::OK);
}

/// A TCP proxy in front of PostgreSQL that can cut every connection and
/// refuse new ones, as a restarted server or a network partition would.
struct Proxy {
    addr: SocketAddr,
    up: watch::Sender<bool>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, state) = watch::channel(true);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut state = state.clone();
                if !*state.borrow() {
                    continue; // dropped: the client sees the door shut
                }
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = state.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { addr, up }
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }

    /// `url` with its host and port replaced by the proxy's.
    fn route(&self, url: &str) -> String {
        let options = PgConnectOptions::from_str(url).unwrap();
        let upstream = format!("{}:{}", options.get_host(), options.get_port());
        if url.contains(&upstream) {
            url.replacen(&upstream, &self.addr.to_string(), 1)
        } else {
            let host = format!("@{}", options.get_host());
            assert!(url.contains(&host), "cannot find the host in {url}");
            url.replacen(&host, &format!("@{}", self.addr), 1)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_is_503_and_recovers() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let url = schema.url();
    let options = PgConnectOptions::from_str(&url).unwrap();
    let upstream = format!("{}:{}", options.get_host(), options.get_port());
    let outcome = tokio::spawn(async move {
        let proxy = Proxy::start(upstream).await;
        let routed = proxy.route(&url);
        let repos = app::data::connect(&routed).await.expect("open PostgreSQL");
        repos.database.migrate().await.expect("migrate");
        let app = TestApp::over(repos, routed);
        let ann = app.user("ann").await;
        let post = app.new_post(&ann, "Before the outage", "published").await;
        let path = format!("/api/posts/{}", post["id"].as_str().unwrap());

        proxy.set_up(false);
        let started = Instant::now();
        let credentials = json!({"email": ann.email, "password": "correct horse battery"});
        let ((), read, me, login) = tokio::join!(
            health_fails(&app),
            app.get(&path, None),
            app.get("/api/users/me", Some(&ann.token)),
            app.post("/api/auth/login", None, credentials.clone()),
        );
        for reply in [&read, &me, &login] {
            unavailable(reply);
        }
        assert!(started.elapsed() < ANSWER_BOUND, "{:?}", started.elapsed());

        proxy.set_up(true);
        health_ok(&app).await;
        let read = app.get(&path, None).await;
        assert_eq!(read.json()["data"]["title"], "Before the outage");
        assert_eq!(
            app.get("/api/users/me", Some(&ann.token)).await.status,
            StatusCode::OK
        );
        assert_eq!(
            app.post("/api/auth/login", None, credentials).await.status,
            StatusCode::OK
        );
        let after = app.new_post(&ann, "After the outage", "published").await;
        assert_eq!(after["status"], "published");
    })
    .await;
    schema.drop().await;
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

/// `/health` passes again; the pool replaces the connections the outage
/// broke on the first use of each.
async fn health_ok(app: &TestApp) {
    let health = app.get("/health", None).await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.json());
    assert_eq!(health.json()["status"], "pass");
}
