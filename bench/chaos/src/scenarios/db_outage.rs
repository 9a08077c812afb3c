//! PostgreSQL cut, then black-holed, under a steady load of reads and
//! writes, with corral probing the workers as the repository's
//! `ecosystem.toml` does: every failure a fast 503 with `Retry-After`,
//! `/health` failing, no worker replaced, full recovery soon after the
//! database returns, and every acknowledged write there at the end.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use steered_proxy::{Mode, Proxy, upstream_of};

use super::{Findings, Lengths, sleep_until};
use crate::phases::{Kind, Phase, Sample, Summary, summarize};
use crate::request::{Answer, request};
use crate::supervisor::{Binaries, Supervisor, pids, workers};

/// The variable naming the PostgreSQL server, as for the tests.
const PG_VARIABLE: &str = "TEST_DATABASE_URL";

/// The repository's example: the scenario probes the path its
/// `health_check` names, as tightly as every scenario probes, so that a
/// path that fails during an outage gets workers replaced within it.
const ECOSYSTEM: &str = include_str!("../../../../ecosystem.toml");

/// The `path` of the example's `health_check` line.
fn ecosystem_probe_path() -> Option<&'static str> {
    let line = ECOSYSTEM
        .lines()
        .find(|line| line.starts_with("health_check"))?;
    let after = line.split_once("path = \"")?.1;
    Some(after.split_once('"')?.0)
}

/// The load: readers and writers sending one request every `PACE`, and a
/// prober asking `/health` and `/health/live` as often.
const READERS: usize = 2;
const WRITERS: usize = 2;
const PACE: Duration = Duration::from_millis(100);

/// Runs the outage; without `TEST_DATABASE_URL` says it skipped, in its
/// figures and on stderr.
pub fn db_outage(bins: &Binaries, lengths: &Lengths) -> anyhow::Result<Findings> {
    let Ok(server) = std::env::var(PG_VARIABLE) else {
        let why = format!("skipped: {PG_VARIABLE} is not set (a PostgreSQL server to cut)");
        eprintln!("db_outage: {why}");
        return Ok(Findings {
            scenario: "db_outage",
            verdicts: BTreeMap::new(),
            figures: json!({ "skipped": why }),
        });
    };
    let schema = Schema::create(&server)?;
    let upstream = upstream_of(&server).context("a host:port in TEST_DATABASE_URL")?;
    let proxy = Proxy::start(upstream.to_owned()).context("starting the proxy")?;
    let probe = ecosystem_probe_path().context("ecosystem.toml has a health_check path")?;
    let routed = proxy
        .route(&schema.url())
        .context("the schema's URL names its host")?;
    // The app on PostgreSQL (through the proxy), with the default database
    // timeouts (2 s + 5 s): a request facing a black hole before the circuit
    // opens is still answered within a second, since the app pings the
    // database on a connection of its own once a call has waited 200 ms.
    let env = format!(r#"DATABASE_URL = "{routed}""#);
    let mut sup = Supervisor::start_with(bins, probe, &env)?;
    let (pids_before, restarts_before) = fleet(&mut sup)?;
    let token = sign_up(sup.addr)?;

    let start = Instant::now();
    let load = Traffic::start(sup.addr, token.clone(), start);
    let (fault, settle) = (lengths.db_fault_for, lengths.db_settle_for);
    let mut at = Duration::ZERO;
    let mut phases = Vec::new();
    for (name, mode, length) in [
        ("before", Mode::Pass, settle),
        ("cut", Mode::Cut, fault),
        ("after the cut", Mode::Pass, settle),
        ("black hole", Mode::BlackHole, fault),
        ("after the black hole", Mode::Pass, settle),
    ] {
        sleep_until(start + at);
        proxy.set(mode);
        phases.push((
            mode,
            Phase {
                name,
                from: at.as_secs_f64(),
                to: (at + length).as_secs_f64(),
            },
        ));
        at += length;
    }
    sleep_until(start + at);
    let (samples, written) = load.stop();
    let (pids_after, restarts_after) = fleet(&mut sup)?;
    let missing = missing_writes(sup.addr, &token, &written)?;

    let summaries: Vec<(Mode, &str, Summary)> = phases
        .iter()
        .map(|&(mode, phase)| (mode, phase.name, summarize(&samples, phase)))
        .collect();
    let faults: Vec<&Summary> = summaries
        .iter()
        .filter(|(mode, ..)| *mode != Mode::Pass)
        .map(|(.., s)| s)
        .collect();
    // The phases after a fault, not the one before the first.
    let recoveries: Vec<&Summary> = summaries[1..]
        .iter()
        .filter(|(mode, ..)| *mode == Mode::Pass)
        .map(|(.., s)| s)
        .collect();
    Ok(Findings {
        scenario: "db_outage",
        verdicts: BTreeMap::from([
            (
                "every failed read or write during a fault was a 503",
                faults.iter().all(|s| s.failed_not_503 == 0),
            ),
            (
                "every 503 within 1 s",
                faults
                    .iter()
                    .all(|s| s.slowest_503_s.is_some_and(|t| t < 1.0)),
            ),
            (
                "every 503 had Retry-After",
                summaries.iter().all(|(.., s)| s.every_503_had_retry_after),
            ),
            (
                "/health failed during each fault",
                faults.iter().all(|s| s.count(Kind::Health, "503") > 0),
            ),
            (
                "/health/live answered 200 throughout",
                summaries.iter().all(|(.., s)| {
                    s.answers
                        .get(&Kind::Live)
                        .is_none_or(|a| a.len() == 1 && a.contains_key("200"))
                }),
            ),
            (
                "no worker replaced",
                pids_before == pids_after && restarts_before == restarts_after,
            ),
            (
                "full recovery within 2 s of the database's return",
                recoveries.iter().all(|s| s.last_failure_ended_s < 2.0),
            ),
            (
                "every acknowledged write read back",
                !written.is_empty() && missing.is_empty(),
            ),
        ]),
        figures: json!({
            "fault_s": fault.as_secs_f64(),
            "probe": probe,
            "phases": summaries.iter().map(|(_, name, s)| json!({ "phase": name, "summary": s })).collect::<Vec<_>>(),
            "workers": { "before": pids_before, "after": pids_after },
            "restarts": { "before": restarts_before, "after": restarts_after },
            "acknowledged_writes": written.len(),
            "missing_writes": missing,
        }),
    })
}

/// The online workers' pids and the app's restart counts.
fn fleet(sup: &mut Supervisor) -> anyhow::Result<(Vec<i32>, Value)> {
    let status = sup.status()?;
    let mut pids = pids(workers(&status));
    pids.sort_unstable();
    Ok((pids, status["apps"][0]["restarts"].clone()))
}

/// Registers a user and logs in: its bearer token.
fn sign_up(addr: SocketAddr) -> anyhow::Result<String> {
    let account = json!({ "email": "soak@example.com", "name": "Outage", "password": "correct horse battery" });
    let answer = request(
        addr,
        "POST",
        "/api/auth/register",
        None,
        Some(&account.to_string()),
    )?;
    if answer.status != 201 {
        bail!("register answered {}", answer.status);
    }
    let login = json!({ "email": "soak@example.com", "password": "correct horse battery" });
    let answer = request(
        addr,
        "POST",
        "/api/auth/login",
        None,
        Some(&login.to_string()),
    )?;
    let body: Value = serde_json::from_slice(&answer.body).context("the login's body")?;
    body["data"]["token"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("login answered {} without a token", answer.status))
}

/// The acknowledged writes (post ids) that cannot be read back.
fn missing_writes(
    addr: SocketAddr,
    token: &str,
    written: &[String],
) -> anyhow::Result<Vec<String>> {
    let mut missing = Vec::new();
    for id in written {
        let answer = request(addr, "GET", &format!("/api/posts/{id}"), Some(token), None)?;
        if answer.status != 200 {
            missing.push(id.clone());
        }
    }
    Ok(missing)
}

/// The readers, writers and prober, each on a thread of its own.
struct Traffic {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<Sample>>>,
    written: Arc<Mutex<Vec<String>>>,
}

impl Traffic {
    fn start(addr: SocketAddr, token: String, start: Instant) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        let kinds = std::iter::repeat_n(Kind::Read, READERS)
            .chain(std::iter::repeat_n(Kind::Write, WRITERS))
            .chain([Kind::Health]);
        for (n, kind) in kinds.enumerate() {
            let (stop, written, token) = (Arc::clone(&stop), Arc::clone(&written), token.clone());
            threads.push(std::thread::spawn(move || {
                let mut samples = Vec::new();
                let mut sent = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let asks: &[Kind] = if kind == Kind::Health {
                        &[Kind::Health, Kind::Live]
                    } else {
                        &[kind]
                    };
                    for &ask in asks {
                        sent += 1;
                        let (answer, sample) = send(addr, ask, &token, n, sent, start);
                        if let (Kind::Write, Some(id)) = (ask, answer.and_then(|a| created_id(&a)))
                        {
                            written.lock().expect("the written ids").push(id);
                        }
                        samples.push(sample);
                    }
                    std::thread::sleep(PACE);
                }
                samples
            }));
        }
        Self {
            stop,
            threads,
            written,
        }
    }

    /// Stops the threads: every sample, and the ids of the writes answered
    /// 201.
    fn stop(self) -> (Vec<Sample>, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let samples = self
            .threads
            .into_iter()
            .flat_map(|t| t.join().expect("a traffic thread panicked"))
            .collect();
        let written = std::mem::take(&mut *self.written.lock().expect("the written ids"));
        (samples, written)
    }
}

/// Sends one request of `kind`; client `n`'s `sent`-th.
fn send(
    addr: SocketAddr,
    kind: Kind,
    token: &str,
    n: usize,
    sent: u64,
    start: Instant,
) -> (Option<Answer>, Sample) {
    let began = Instant::now();
    let answer = match kind {
        Kind::Read => request(addr, "GET", "/api/posts?limit=5", None, None),
        Kind::Write => {
            let post = json!({ "title": format!("Outage post {n}-{sent}"), "content": "written while the database comes and goes" });
            request(addr, "POST", "/api/posts", Some(token), Some(&post.to_string()))
        }
        Kind::Health => request(addr, "GET", "/health", None, None),
        Kind::Live => request(addr, "GET", "/health/live", None, None),
    }
    .ok();
    let sample = Sample {
        kind,
        started: (began - start).as_secs_f64(),
        took: began.elapsed().as_secs_f64(),
        status: answer.as_ref().map(|a| a.status),
        retry_after: answer.as_ref().is_some_and(|a| a.retry_after),
    };
    (answer, sample)
}

/// The id of a post a 201 answer created.
fn created_id(answer: &Answer) -> Option<String> {
    if answer.status != 201 {
        return None;
    }
    let body: Value = serde_json::from_slice(&answer.body).ok()?;
    body["data"]["id"].as_str().map(str::to_owned)
}

/// A schema of the scenario's own on the server, dropped at the end.
struct Schema {
    server: String,
    name: String,
}

impl Schema {
    fn create(server: &str) -> anyhow::Result<Self> {
        let schema = Self {
            server: server.to_owned(),
            name: format!("chaos_outage_{}", std::process::id()),
        };
        schema.psql(&format!(
            "DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}",
            schema.name
        ))?;
        Ok(schema)
    }

    /// The server's URL with this schema as search path.
    fn url(&self) -> String {
        let separator = if self.server.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}options=-c%20search_path%3D{}",
            self.server, self.name
        )
    }

    fn psql(&self, sql: &str) -> anyhow::Result<()> {
        let status = Command::new("psql")
            .args([
                self.server.as_str(),
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            // Quiet: the NOTICEs of `IF EXISTS` and `CASCADE` are no news.
            .env("PGOPTIONS", "--client-min-messages=warning")
            .status()
            .context("running psql (the postgresql-client package)")?;
        if !status.success() {
            bail!("psql failed on: {sql}");
        }
        Ok(())
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = self.psql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
    }
}
