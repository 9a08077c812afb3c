//! A PostgreSQL outage under the supervisor, with the workers probed as the
//! repository's `ecosystem.toml` probes them: requests fail fast (503 with
//! `Retry-After`), `/health` fails so a balancer would look elsewhere, and
//! yet corral replaces no worker (a restart storm would gain nothing: a new
//! worker cannot reach the database either). Once the database is back,
//! everything serves again within 2 s.
//!
//! The database is cut through a TCP proxy the test owns, in front of the
//! server `TEST_DATABASE_URL` names, in a schema of the test's own (made
//! and dropped with `psql`); without that variable the test says it skipped.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::helper::{Corral, get, post_json, send};

const PG_VARIABLE: &str = "TEST_DATABASE_URL";

/// How long the database stays cut: longer than the probes need to
/// replace a worker (`interval × failures` below, plus the grace period).
const OUTAGE: Duration = Duration::from_secs(4);

#[test]
fn a_database_outage_fails_requests_fast_and_replaces_no_worker() {
    let Ok(server) = std::env::var(PG_VARIABLE) else {
        println!("skipped: {PG_VARIABLE} not set");
        return;
    };
    let schema = Schema::create(&server);
    let proxy = Proxy::start(upstream_of(&server));
    let config = CONFIG
        .replace("{probe}", &ecosystem_probe_path())
        .replace("{db}", &schema.url(&proxy.addr));
    let mut corral = Corral::start(&config);
    let workers = corral.wait_online();
    let addr = corral.listen_addr();
    let account =
        r#"{"email":"outage@example.com","name":"Out","password":"correct horse battery"}"#;
    let (status, body) = post_json(addr, "/api/auth/register", account).expect("register");
    assert_eq!(status, 201, "{body}");

    proxy.cut(true);
    let cut_at = Instant::now();
    let mut health_failed = false;
    while cut_at.elapsed() < OUTAGE {
        let asked = Instant::now();
        let answer = send(addr, "GET", "/api/tags").expect("the shared port answers");
        if answer.status != 200 {
            assert_eq!(answer.status, 503, "{answer:?}");
            assert!(
                answer.header("Retry-After").is_some(),
                "a 503 says when to retry: {answer:?}"
            );
            assert!(
                asked.elapsed() < Duration::from_secs(1),
                "a 503 within 1 s: {:?}",
                asked.elapsed()
            );
        }
        let (status, _) = get(addr, "/health").expect("health");
        health_failed |= status == 503;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        health_failed,
        "/health never failed while the database was cut"
    );
    proxy.cut(false);

    let restored = Instant::now();
    loop {
        let (status, body) = get(addr, "/api/tags").expect("tags");
        if status == 200 {
            break;
        }
        assert!(
            restored.elapsed() < Duration::from_secs(2),
            "still failing 2 s after the database came back: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let login = r#"{"email":"outage@example.com","password":"correct horse battery"}"#;
    let (status, body) = post_json(addr, "/api/auth/login", login).expect("login");
    assert_eq!(status, 200, "the account written before the outage: {body}");

    assert!(
        corral.events("replacing worker").is_empty(),
        "no worker replaced during the outage: {:?}",
        corral.events("replacing worker")
    );
    assert_eq!(
        corral.events("worker spawned").len(),
        workers.len(),
        "no worker started after the first ones"
    );
    corral.signal(Signal::SIGTERM);
    assert!(corral.wait_exit(Duration::from_secs(20)).success());
}

/// Probes as tight as a test can afford: without a liveness path, two
/// failed probes 200 ms apart would replace a worker well within
/// [`OUTAGE`].
const CONFIG: &str = r#"
[[apps]]
name = "api"
command = "{app}"
instances = 2
listen = ["127.0.0.1:0"]
wait_ready = true
listen_timeout = "20s"
kill_timeout = "15s"
health_check = { path = "{probe}", interval = "200ms", timeout = "1s", grace_period = "1s", failures = 2 }
[apps.env]
DATABASE_URL = "{db}"
APP_LOG_FORMAT = "json"
APP_DB_CONNECT_TIMEOUT = "300ms"
APP_DB_STATEMENT_TIMEOUT = "500ms"
"#;

/// The `health_check` path of the repository's `ecosystem.toml`, so the
/// example an operator copies is the one shown to cause no restart storm.
fn ecosystem_probe_path() -> String {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ecosystem.toml");
    let text = std::fs::read_to_string(&example).expect("read ecosystem.toml");
    let line = text
        .lines()
        .find(|line| line.starts_with("health_check"))
        .expect("the example has a health_check");
    let after = line.split_once("path = \"").expect("a path").1;
    after.split_once('"').expect("a closing quote").0.to_owned()
}

/// `host:port` of a `postgres://user@host:port/db` URL.
fn upstream_of(url: &str) -> String {
    let rest = url.split_once("://").expect("a URL").1;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    rest.split(['/', '?']).next().expect("a host").to_owned()
}

/// A schema of the test's own on the server, dropped at the end.
struct Schema {
    server: String,
    name: String,
}

impl Schema {
    fn create(server: &str) -> Self {
        let name = format!("outage_{}", std::process::id());
        let schema = Self {
            server: server.to_owned(),
            name,
        };
        schema.psql(&format!(
            "DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}",
            schema.name
        ));
        schema
    }

    /// The server's URL through `proxy`, with this schema as search path.
    fn url(&self, proxy: &SocketAddr) -> String {
        let url = self
            .server
            .replacen(&upstream_of(&self.server), &proxy.to_string(), 1);
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}options=-c%20search_path%3D{}", self.name)
    }

    fn psql(&self, sql: &str) {
        let status = Command::new("psql")
            .args([
                self.server.as_str(),
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .env("PGOPTIONS", "-c client_min_messages=warning")
            .status()
            .expect("run psql (the postgresql-client package)");
        assert!(status.success(), "psql: {sql}");
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        self.psql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
    }
}

/// A TCP proxy in front of the server that the test can cut: every open
/// connection is shut and new ones are closed at once (a stopped server).
struct Proxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let cut = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (accept_cut, accept_open) = (Arc::clone(&cut), Arc::clone(&open));
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                if accept_cut.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let mut open = accept_open.lock().unwrap();
                for stream in [&client, &server] {
                    open.push(stream.try_clone().expect("clone a stream"));
                }
                pipe(
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                pipe(server, client);
            }
        });
        Self { addr, cut, open }
    }

    /// Cuts the database off (`true`) or lets it through again.
    fn cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
        if cut {
            for stream in self.open.lock().unwrap().drain(..) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

/// Copies `from` to `to` on a thread of its own until either side ends.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buffer = [0; 16 * 1024];
        while let Ok(n) = from.read(&mut buffer) {
            if n == 0 || to.write_all(&buffer[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
