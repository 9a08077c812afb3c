//! PostgreSQL cut and black-holed under a steady load of reads and writes
//! (through a [`Proxy`] the test steers): every failure is a 503 with
//! `Retry-After` that arrives within [`FAIL_BOUND`], `/health` fails, and
//! within [`RECOVERY`] of the proxy's restore every request succeeds again;
//! every write that was acknowledged is there at the end. With the default
//! timeouts: a silent database is found by a ping, not by a call's bound
//! of seconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use app::data::{Timeouts, connect_with};
use axum::http::StatusCode;
use sqlx::Connection as _;

use super::harness::{Reply, TestApp, TestUser};
use crate::data::harness::in_postgres_schema;
use steered_proxy::{Mode, Proxy, upstream_of};

/// The longest a failed request may take: a client is told at once.
const FAIL_BOUND: Duration = Duration::from_secs(1);
/// How soon after the database is back every request succeeds again.
const RECOVERY: Duration = Duration::from_secs(2);
/// How long each fault lasts (CI-short; `bench/` holds the 30 s run).
const FAULT: Duration = Duration::from_secs(3);
/// Short bounds, so a call in flight on a silent database ends at its
/// bound before the ping finds the silence.
const SHORT: Timeouts = Timeouts {
    connect: Duration::from_millis(150),
    statement: Duration::from_millis(250),
};
/// Clients reading and writing at once.
const CLIENTS: usize = 4;
/// How long past the end of the load a request may still run before the
/// test calls it hung.
const HANG: Duration = Duration::from_secs(5);
/// How long a request refused by the open circuit may take.
const REFUSED_AT_ONCE: Duration = Duration::from_millis(50);
/// The pause between a client's requests.
const PACE: Duration = Duration::from_millis(20);

/// One request of the load, as the client saw it.
#[derive(Debug)]
struct Sample {
    what: &'static str,
    started: Instant,
    took: Duration,
    status: StatusCode,
    retry_after: String,
    content_type: String,
    /// The id of the post a 2xx write created.
    written: Option<String>,
}

impl Sample {
    fn of(what: &'static str, started: Instant, reply: &Reply) -> Self {
        let written = (what == "write" && reply.status.is_success())
            .then(|| reply.json()["data"]["id"].as_str().unwrap().to_owned());
        Self {
            what,
            started,
            took: started.elapsed(),
            status: reply.status,
            retry_after: reply.header("retry-after").to_owned(),
            content_type: reply.header("content-type").to_owned(),
            written,
        }
    }
}

/// Reads and writes until `until`, pausing [`PACE`] between requests.
async fn client(app: Arc<TestApp>, user: TestUser, path: String, until: Instant) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut n = 0;
    while Instant::now() < until {
        n += 1;
        let started = Instant::now();
        let body = serde_json::json!({"title": format!("Load {n}"), "content": "Written under load.", "status": "published"});
        let reply = app.post("/api/posts", Some(&user.token), body).await;
        samples.push(Sample::of("write", started, &reply));
        let started = Instant::now();
        let reply = app.get(&path, None).await;
        samples.push(Sample::of("read", started, &reply));
        tokio::time::sleep(PACE).await;
    }
    samples
}

/// Asks `/health` and `/health/live` every 100 ms until `until`.
async fn prober(app: Arc<TestApp>, until: Instant) -> Vec<Sample> {
    let mut samples = Vec::new();
    while Instant::now() < until {
        let started = Instant::now();
        let reply = app.get("/health", None).await;
        samples.push(Sample::of("health", started, &reply));
        let started = Instant::now();
        let reply = app.get("/health/live", None).await;
        samples.push(Sample::of("live", started, &reply));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    samples
}

/// The path of a new published post of `user`'s, not read yet (so not
/// cached: its first read goes to the database).
async fn unread_post(app: &TestApp, user: &TestUser, title: &str) -> String {
    let post = app.new_post(user, title, "published").await;
    format!("/api/posts/{}", post["id"].as_str().unwrap())
}

/// The API over a migrated PostgreSQL schema at `url`, reached through
/// a proxy the test steers, with `timeouts`.
async fn behind_proxy(url: &str, timeouts: Timeouts) -> (Proxy, Arc<TestApp>) {
    let proxy = Proxy::start(upstream_of(url).unwrap().to_owned()).unwrap();
    let routed = proxy.route(url).unwrap();
    let repos = connect_with(&routed, timeouts)
        .await
        .expect("open PostgreSQL");
    repos.database.migrate().await.expect("migrate");
    (proxy, Arc::new(TestApp::over(repos, routed)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cut_and_black_holed_under_load() {
    in_postgres_schema(|url| async move {
        let (proxy, app) = behind_proxy(&url, Timeouts::default()).await;
        let ann = app.user("ann").await;
        let path = unread_post(&app, &ann, "Read under load").await;

        let warm = Duration::from_millis(500);
        let phase = FAULT + RECOVERY + Duration::from_secs(1);
        let start = Instant::now();
        let until = start + warm + 2 * phase;
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| tokio::spawn(client(Arc::clone(&app), ann.clone(), path.clone(), until)))
            .chain([tokio::spawn(prober(Arc::clone(&app), until))])
            .collect();
        let mut faults = Vec::new();
        tokio::time::sleep(warm).await;
        for mode in [Mode::Cut, Mode::BlackHole] {
            let began = Instant::now();
            proxy.set(mode);
            tokio::time::sleep(FAULT).await;
            proxy.set(Mode::Pass);
            faults.push((mode, began, Instant::now()));
            tokio::time::sleep(phase - FAULT).await;
        }
        // A request that hangs (no bound on a black-holed connection)
        // fails the test instead of hanging it.
        let mut samples = Vec::new();
        for client in clients {
            let done = tokio::time::timeout_at((until + HANG).into(), client).await;
            samples.extend(done.expect("a request hung").unwrap());
        }

        // The supervisor's probe: a worker that answers stays alive, so an
        // outage never becomes a restart storm.
        let live: Vec<_> = samples.iter().filter(|s| s.what == "live").collect();
        assert!(!live.is_empty(), "/health/live was never asked");
        for sample in live {
            assert_eq!(sample.status, StatusCode::OK, "{sample:?}");
            assert!(sample.took < Duration::from_millis(250), "{sample:?}");
        }
        for sample in samples.iter().filter(|s| !s.status.is_success()) {
            assert_eq!(sample.status, StatusCode::SERVICE_UNAVAILABLE, "{sample:?}");
            assert!(
                sample.retry_after.parse::<u64>().is_ok_and(|s| s >= 1),
                "{sample:?}"
            );
            assert!(
                sample.took < FAIL_BOUND,
                "a failure took too long: {sample:?}"
            );
            if sample.what != "health" {
                assert_eq!(
                    sample.content_type, "application/problem+json",
                    "{sample:?}"
                );
            }
        }
        for (mode, began, restored) in faults {
            let during = |s: &&Sample| {
                s.started >= began + Duration::from_millis(500) && s.started < restored
            };
            let failed = samples
                .iter()
                .filter(during)
                .filter(|s| s.what != "health" && !s.status.is_success());
            let (failed, slow) = failed.fold((0, 0), |(all, slow), s| {
                (all + 1, slow + usize::from(s.took >= REFUSED_AT_ONCE))
            });
            assert!(failed > 0, "{mode:?}: no request failed during the fault");
            // Once the circuit is open, only its probe (about one a
            // second) waits on the database; the rest fail at once.
            assert!(
                slow * 10 <= failed,
                "{mode:?}: {slow} of {failed} failures waited on the database"
            );
            let health: Vec<_> = samples
                .iter()
                .filter(during)
                .filter(|s| s.what == "health")
                .collect();
            assert!(
                !health.is_empty()
                    && health
                        .iter()
                        .all(|s| s.status == StatusCode::SERVICE_UNAVAILABLE),
                "{mode:?}: /health did not fail: {health:?}"
            );
            let after: Vec<_> = samples
                .iter()
                .filter(|s| {
                    s.started >= restored + RECOVERY
                        && s.started < restored + RECOVERY + Duration::from_millis(500)
                })
                .collect();
            assert!(!after.is_empty(), "{mode:?}: no request after the recovery");
            for sample in after {
                assert!(
                    sample.status.is_success(),
                    "{mode:?}: not recovered within {RECOVERY:?}: {sample:?}"
                );
            }
        }
        let written: Vec<_> = samples.iter().filter_map(|s| s.written.clone()).collect();
        assert!(
            written.len() > 10,
            "too few writes acknowledged: {}",
            written.len()
        );
        for id in written {
            let read = app.get(&format!("/api/posts/{id}"), Some(&ann.token)).await;
            assert_eq!(
                read.status,
                StatusCode::OK,
                "acknowledged write {id} is lost"
            );
        }
        let metrics = String::from_utf8_lossy(&app.get("/metrics", None).await.body).into_owned();
        assert!(
            metrics.contains("db_circuit_opened_total{backend=\"postgres\"}"),
            "{metrics}"
        );
    })
    .await;
}

/// A read that waits on the database, with how long it took.
fn timed_read(app: &Arc<TestApp>, path: &str) -> tokio::task::JoinHandle<(StatusCode, Duration)> {
    let (app, path) = (Arc::clone(app), path.to_owned());
    tokio::spawn(async move {
        let started = Instant::now();
        (app.get(&path, None).await.status, started.elapsed())
    })
}

/// Another session holding the posts table (`ACCESS EXCLUSIVE`), so that
/// reads of posts wait on the server until it is released.
struct PostsLocked(sqlx::PgConnection);

impl PostsLocked {
    async fn take(url: &str) -> Self {
        let mut session = sqlx::PgConnection::connect(url).await.unwrap();
        for sql in ["BEGIN", "LOCK TABLE posts IN ACCESS EXCLUSIVE MODE"] {
            sqlx::query(sql).execute(&mut session).await.unwrap();
        }
        Self(session)
    }

    async fn release(mut self) {
        sqlx::query("ROLLBACK").execute(&mut self.0).await.unwrap();
    }
}

/// Reads held on the server at once: as many as the pool has connections
/// (8), so a connection that stayed stuck would leave none.
const IN_FLIGHT: usize = 8;

/// Reads already waiting on the server when the network goes dark (a
/// black hole: the connections stay open, no answer ever comes) are
/// abandoned at their bound and answered 503, and their connections are
/// closed, not held: once the server is back for new connections (the old
/// ones still dark), reads succeed within [`RECOVERY`].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_in_flight_when_the_server_goes_dark_ends_at_its_bound() {
    in_postgres_schema(|url| async move {
        let (proxy, app) = behind_proxy(&url, SHORT).await;
        let ann = app.user("ann").await;
        let path = unread_post(&app, &ann, "Read in the dark").await;

        // Another session locks the table, so the read waits on the server.
        let lock = PostsLocked::take(&url).await;
        let started = Instant::now();
        let reads: Vec<_> = (0..IN_FLIGHT).map(|_| timed_read(&app, &path)).collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        proxy.set(Mode::BlackHole);
        for read in reads {
            let (status, _) = tokio::time::timeout(HANG, read)
                .await
                .expect("a read hung on the dark connection")
                .unwrap();
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        }
        assert!(started.elapsed() < FAIL_BOUND, "{:?}", started.elapsed());
        lock.release().await;

        // The server is back for new connections, but the abandoned ones
        // stay dark: the pool must close them, not wait on them.
        proxy.set(Mode::PassNew);
        let back = Instant::now();
        loop {
            let reply = app.get(&path, None).await;
            if reply.status == StatusCode::OK {
                break;
            }
            assert!(back.elapsed() < RECOVERY, "not back: {}", reply.status);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

/// How long the slow statement of the next test waits on a lock.
const SLOW: Duration = Duration::from_millis(1500);

/// Reads `path` (not cached yet) while another session holds the posts
/// table for [`SLOW`]: the read waits on the live database, past the
/// silence check, and succeeds.
async fn slow_read_succeeds(app: &Arc<TestApp>, url: &str, path: &str) {
    let lock = PostsLocked::take(url).await;
    let slow = timed_read(app, path);
    tokio::time::sleep(SLOW).await;
    lock.release().await;
    let (status, took) = slow.await.unwrap();
    assert_eq!(status, StatusCode::OK, "a slow read on a live database");
    assert!(took >= SLOW, "the read did not wait on the lock: {took:?}");
}

/// With the default timeouts (a call may take 7 s), a database gone
/// silent still fails requests within [`FAIL_BOUND`]: a call that waits
/// has the database pinged on a connection of its own, and a ping left
/// unanswered cuts it short. A statement that is only slow, on a database
/// that answers, runs on and succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_default_timeouts_a_silent_database_fails_requests_within_a_second() {
    in_postgres_schema(|url| async move {
        let (proxy, app) = behind_proxy(&url, Timeouts::default()).await;
        let ann = app.user("ann").await;
        let path = unread_post(&app, &ann, "Read slowly").await;

        slow_read_succeeds(&app, &url, &path).await;

        proxy.set(Mode::BlackHole);
        let reads: Vec<_> = (0..IN_FLIGHT).map(|_| timed_read(&app, &path)).collect();
        for read in reads {
            let (status, took) = tokio::time::timeout(HANG, read)
                .await
                .expect("a read hung on the silent database")
                .unwrap();
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert!(took < FAIL_BOUND, "a failure took {took:?}");
        }
    })
    .await;
}

/// The silence check's own connection, closed under it while the database
/// stays up (an idle timeout, a restart, here the proxy cutting every
/// connection), is opened again rather than taken for an outage: the next
/// slow read succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_connection_the_server_closed_is_reopened_not_taken_for_an_outage() {
    in_postgres_schema(|url| async move {
        let (proxy, app) = behind_proxy(&url, Timeouts::default()).await;
        let ann = app.user("ann").await;
        let first = unread_post(&app, &ann, "First slow read").await;
        let second = unread_post(&app, &ann, "Second slow read").await;
        slow_read_succeeds(&app, &url, &first).await;
        proxy.set(Mode::Cut);
        tokio::time::sleep(Duration::from_millis(100)).await;
        proxy.set(Mode::Pass);
        slow_read_succeeds(&app, &url, &second).await;
    })
    .await;
}
