//! Several hosts on one machine (`deploy/multi-host/cluster.sh`): two
//! `corral`s on 127.0.0.2 and 127.0.0.3 behind HAProxy, sharing a
//! PostgreSQL primary, its streaming replica (applying every commit late on
//! purpose) and Redis, all started and removed by the script.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::helper::{Load, app_bin, corral_bin, get, get_json, post_json, post_json_as};

/// The script under test.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/multi-host/cluster.sh")
}

/// A cluster the script started in a folder of its own; `down` on drop.
struct Cluster {
    dir: tempfile::TempDir,
    env: HashMap<String, String>,
}

impl Cluster {
    /// `cluster.sh up` with `hosts` hosts and the replica applying each
    /// commit `delay` after it was made.
    fn up(hosts: usize, delay: Duration) -> Self {
        Self::up_with(hosts, delay, None)
    }

    /// [`Cluster::up`], the app setting a replica aside beyond `max_lag`.
    fn up_with(hosts: usize, delay: Duration, max_lag: Option<Duration>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cluster = Cluster {
            dir,
            env: HashMap::new(),
        };
        let hosts = hosts.to_string();
        let delay = delay.as_millis().to_string();
        let max_lag = max_lag.map(|lag| lag.as_millis().to_string());
        let mut args = vec!["up", "--hosts", &hosts, "--replica-delay", &delay];
        if let Some(lag) = &max_lag {
            args.extend(["--max-lag", lag]);
        }
        cluster.run(&args);
        let text =
            std::fs::read_to_string(cluster.dir.path().join("cluster.env")).expect("cluster.env");
        cluster.env = text
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        cluster
    }

    /// Runs the script's `verb` on this cluster, with the binaries of this
    /// build; panics with its output when it fails.
    fn run(&self, args: &[&str]) {
        let (verb, rest) = args.split_first().expect("a verb");
        let out = self
            .script(verb)
            .args(rest)
            .output()
            .expect("run cluster.sh");
        assert!(
            out.status.success(),
            "cluster.sh {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `cluster.sh VERB DIR` for this cluster, with this build's binaries.
    fn script(&self, verb: &str) -> Command {
        let mut command = Command::new("bash");
        command
            .arg(script())
            .arg(verb)
            .arg(self.dir.path())
            .env("CORRAL", corral_bin())
            .env("APP", app_bin());
        command
    }

    /// An address the script wrote (`LB`, `HOST1`, ...).
    fn addr(&self, key: &str) -> SocketAddr {
        self.env[key].parse().expect("an address")
    }

    /// Runs `pg_ctl ACTION` on the replica's data folder (as `postgres`
    /// when root, as the script does).
    fn replica_ctl(&self, action: &str) {
        let data = &self.env["PG_REPLICA_DATA"];
        let log = format!("{data}/../replica.log");
        let script = format!(
            "bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1); \
             $bin/pg_ctl -D {data} -l {log} -m immediate -w {action}"
        );
        let mut command = if nix::unistd::Uid::effective().is_root() {
            let mut su = Command::new("runuser");
            su.args(["-u", "postgres", "--", "sh", "-c", &script]);
            su
        } else {
            let mut sh = Command::new("sh");
            sh.args(["-c", &script]);
            sh
        };
        let out = command.output().expect("pg_ctl");
        assert!(
            out.status.success(),
            "pg_ctl {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Kills the cluster's Redis.
    fn stop_redis(&self) {
        let pid = std::fs::read_to_string(self.dir.path().join("redis.pid")).expect("redis.pid");
        let pid = nix::unistd::Pid::from_raw(pid.trim().parse().expect("a pid"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("kill redis");
    }

    /// Runs `sql` on the replica, one value back.
    fn on_replica(&self, sql: &str) -> String {
        let url = &self.env["REPLICA_URL"];
        let out = Command::new("psql")
            .args([url.as_str(), "-Atc", sql])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.script("down").status();
    }
}

/// A fresh user's bearer token, registered and logged in through `addr`.
fn token(addr: SocketAddr, email: &str) -> String {
    let account =
        format!(r#"{{"email":"{email}","password":"correct horse battery","name":"Writer"}}"#);
    let (status, body) = post_json(addr, "/api/auth/register", &account).expect("register");
    assert_eq!(status, 201, "{body}");
    let login = format!(r#"{{"email":"{email}","password":"correct horse battery"}}"#);
    let (status, body) = post_json(addr, "/api/auth/login", &login).expect("login");
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    body["data"]["token"].as_str().expect("token").to_owned()
}

/// `GET path` through `addr`: status and JSON body.
fn read(addr: SocketAddr, path: &str) -> (u16, Value) {
    let (status, body) = get(addr, path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Index and sequential scans of the app's tables on the replica: how many
/// reads it served (its stats are flushed when its sessions end).
const REPLICA_SCANS: &str = "SELECT COALESCE(SUM(COALESCE(idx_scan, 0) + COALESCE(seq_scan, 0)), 0) \
     FROM pg_stat_user_tables WHERE relname IN ('posts', 'users', 'sessions')";

/// Write-then-read cycles: each post created through host A is read at
/// once through host B and through the balancer, while the replica applies
/// every commit 300 ms late (a design that read from it without checking
/// would return 404 or a page without the post). Now and then the writes
/// pause longer than that, and reads of older posts may go to the replica:
/// it must have served some.
#[test]
fn reads_through_any_host_see_every_write_acknowledged_before_with_a_lagging_replica() {
    const CYCLES: usize = 1_000;
    let cluster = Cluster::up(2, Duration::from_millis(300));
    let (a, b, lb) = (
        cluster.addr("HOST1"),
        cluster.addr("HOST2"),
        cluster.addr("LB"),
    );
    let token = token(a, "writer@example.com");
    let scans_before: u64 = cluster.on_replica(REPLICA_SCANS).parse().expect("a count");
    let mut slugs = Vec::new();
    for i in 0..CYCLES {
        let post = format!(
            r#"{{"title":"Cycle {i}","content":"Written through host A.","status":"published"}}"#
        );
        let (status, body) = post_json_as(a, "/api/posts", &post, &token).expect("POST");
        assert_eq!(status, 201, "cycle {i}: {body}");
        let created: Value = serde_json::from_str(&body).expect("JSON");
        let slug = created["data"]["slug"].as_str().expect("slug").to_owned();

        let (status, seen) = read(b, &format!("/api/posts/{slug}"));
        assert_eq!(
            status, 200,
            "cycle {i}: host B missed the post just written: {seen}"
        );
        assert_eq!(seen["data"]["title"], format!("Cycle {i}"));
        let (status, page) = read(lb, "/api/posts?limit=1");
        assert_eq!(status, 200, "cycle {i}: {page}");
        assert_eq!(
            page["data"][0]["slug"], slug,
            "cycle {i}: the balancer's first page is older than the write"
        );
        slugs.push(slug);
        if i % 100 == 99 {
            // No write for longer than the replica's delay: it catches up.
            std::thread::sleep(Duration::from_millis(600));
            for slug in slugs.iter().rev().take(10) {
                for host in [b, lb] {
                    let (status, _) = read(host, &format!("/api/posts/{slug}"));
                    assert_eq!(status, 200, "an older post through {host}");
                }
            }
        }
    }
    // Stop the hosts so the replica's sessions end and flush their counts.
    cluster.run(&["stop-host", "1"]);
    cluster.run(&["stop-host", "2"]);
    let scans_after: u64 = cluster.on_replica(REPLICA_SCANS).parse().expect("a count");
    let served = scans_after - scans_before;
    println!("{CYCLES} write-then-read cycles; table scans on the replica: {served}");
    assert!(served > 0, "the replica served no read");
}

/// The replica's state in host `addr`'s `/health` (one worker's view).
fn replica_status(addr: SocketAddr) -> String {
    let health = get_json(addr, "/health");
    health["checks"]["replica:lag"][0]["status"]
        .as_str()
        .unwrap_or("absent")
        .to_owned()
}

/// Waits up to 10 s until every answer of `addr`'s `/health` (asked a few
/// times, so both workers answer) shows the replica as `status`.
fn wait_replica(addr: SocketAddr, status: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if (0..8).all(|_| replica_status(addr) == status) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replica never showed as {status} in /health"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Authenticated reads through the balancer (a session lookup and a page
/// of notifications each, neither cached, so replica-eligible) go on
/// without a 5xx while the replica is killed, and the replica serves reads
/// again once it is back.
#[test]
fn a_replica_that_stops_under_load_costs_no_request_and_is_used_again_when_back() {
    let cluster = Cluster::up(2, Duration::ZERO);
    let lb = cluster.addr("LB");
    let token = token(cluster.addr("HOST1"), "reader@example.com");
    wait_replica(cluster.addr("HOST1"), "pass");
    let load = Load::start_as(lb, "/api/notifications", token.clone(), 4);
    std::thread::sleep(Duration::from_millis(500));
    cluster.replica_ctl("stop");
    wait_replica(cluster.addr("HOST1"), "warn");
    wait_replica(cluster.addr("HOST2"), "warn");
    std::thread::sleep(Duration::from_secs(1));
    cluster.replica_ctl("start");
    wait_replica(cluster.addr("HOST1"), "pass");
    wait_replica(cluster.addr("HOST2"), "pass");
    let before: u64 = cluster.on_replica(REPLICA_SCANS).parse().expect("a count");
    std::thread::sleep(Duration::from_secs(1));
    let report = load.stop();
    assert!(report.ok > 20, "{}", report.summary());
    assert!(report.failures.is_empty(), "{}", report.summary());
    cluster.run(&["stop-host", "1"]);
    cluster.run(&["stop-host", "2"]);
    let after: u64 = cluster.on_replica(REPLICA_SCANS).parse().expect("a count");
    println!(
        "{}; table scans on the replica once back: {}",
        report.summary(),
        after - before
    );
    assert!(after > before, "the replica served no read once back");
}

/// Steady keep-alive reads through HAProxy while every host is reloaded,
/// one after the other (`cluster.sh deploy`), then while one host's
/// supervisor gets SIGTERM (its `/health` fails first, so HAProxy takes it
/// out before its workers stop accepting) and is started again: no request
/// fails.
#[test]
fn a_rolling_deploy_and_a_host_stopped_and_started_fail_no_request_at_the_balancer() {
    let cluster = Cluster::up(2, Duration::ZERO);
    let lb = cluster.addr("LB");
    let token = token(cluster.addr("HOST1"), "deployer@example.com");
    let post = r#"{"title":"Deployed","content":"Read all through.","status":"published"}"#;
    let (status, body) = post_json_as(lb, "/api/posts", post, &token).expect("POST");
    assert_eq!(status, 201, "{body}");
    let load = Load::start_keep_alive_on(lb, "/api/posts?limit=5", 8);
    std::thread::sleep(Duration::from_millis(500));
    cluster.run(&["deploy"]);
    std::thread::sleep(Duration::from_millis(300));
    cluster.run(&["stop-host", "1"]);
    std::thread::sleep(Duration::from_millis(500));
    cluster.run(&["start-host", "1"]);
    // Back in rotation after two passing checks 200 ms apart.
    std::thread::sleep(Duration::from_secs(1));
    let report = load.stop();
    println!(
        "rolling deploy and host 1 stopped and started: {}",
        report.summary()
    );
    assert!(report.ok > 20, "{}", report.summary());
    assert!(report.failures.is_empty(), "{}", report.summary());
}

/// Reads of posts (which the shared cache holds) through HAProxy go on
/// without a 5xx when Redis is killed: the workers serve without it.
#[test]
fn redis_stopped_under_load_costs_no_request() {
    let cluster = Cluster::up(2, Duration::ZERO);
    let lb = cluster.addr("LB");
    let load = Load::start_keep_alive_on(lb, "/api/posts?limit=5", 4);
    std::thread::sleep(Duration::from_millis(500));
    cluster.stop_redis();
    std::thread::sleep(Duration::from_secs(2));
    let report = load.stop();
    println!("Redis killed under load: {}", report.summary());
    assert!(report.ok > 20, "{}", report.summary());
    assert!(report.failures.is_empty(), "{}", report.summary());
}

/// A replica further behind the primary than `APP_DB_REPLICA_MAX_LAG` is
/// set aside (`/health` warns; reads go to the primary) while writes keep
/// it behind, and used again once it has caught up.
#[test]
fn a_replica_lagging_beyond_the_bound_is_set_aside_until_it_catches_up() {
    let cluster = Cluster::up_with(
        1,
        Duration::from_millis(1500),
        Some(Duration::from_millis(300)),
    );
    let host = cluster.addr("HOST1");
    let token = token(host, "lagging@example.com");
    wait_replica(host, "pass");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, token) = (stop.clone(), token.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let post = format!(
                    r#"{{"title":"Lag {i}","content":"Kept behind.","status":"published"}}"#
                );
                let (status, body) = post_json_as(host, "/api/posts", &post, &token).expect("POST");
                assert_eq!(status, 201, "{body}");
                i += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while replica_status(host) != "warn" {
        assert!(
            std::time::Instant::now() < deadline,
            "the lagging replica was never set aside"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().expect("writer");
    wait_replica(host, "pass");
}
