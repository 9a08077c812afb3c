//! Chaos under load, in short (the full lengths run from `bench/chaos.sh`):
//! the real corral running the real app on SQLite, two loads on the shared
//! port (new connections and keep-alive), and rolling reloads, `kill -9` of
//! workers, `kill -STOP` of a worker, `kill -9` of the supervisor, twenty
//! reloads before a look for leaks, and a 60-second soak (a reload every
//! 10 s, a kill every 20 s) sampling the supervisor's memory and fds, and
//! PostgreSQL cut then black-holed under reads and writes. The scenarios and their verdicts live
//! in `bench-chaos`; each test asserts every verdict and shows the figures
//! when one fails.

use bench_chaos::scenarios::{self, Findings, Lengths};
use bench_chaos::supervisor::Binaries;

use crate::helper::{app_bin, corral_bin};

fn bins() -> Binaries {
    Binaries {
        corral: corral_bin(),
        app: app_bin().canonicalize().expect("the app binary"),
    }
}

fn assert_held(outcome: anyhow::Result<Findings>) {
    let outcome = outcome.expect("the scenario ran");
    eprintln!("{}", serde_json::to_string(&outcome).expect("JSON"));
    assert!(outcome.passed(), "{}", outcome.explain());
}

#[test]
fn rolling_reloads_under_load_fail_no_request() {
    assert_held(scenarios::rolling_reloads(&bins(), &Lengths::short()));
}

#[test]
fn killed_workers_fail_only_the_requests_on_their_connections() {
    assert_held(scenarios::kill_workers(&bins(), &Lengths::short()));
}

#[test]
fn a_stopped_worker_is_replaced_with_no_failure_on_new_connections() {
    assert_held(scenarios::stopped_worker(&bins(), &Lengths::short()));
}

#[test]
fn a_killed_supervisor_leaves_no_process_and_serves_the_same_port_again() {
    assert_held(scenarios::kill_supervisor(&bins(), &Lengths::short()));
}

#[test]
fn reloads_leak_no_fd_into_workers_nor_fds_or_memory_in_the_supervisor() {
    assert_held(scenarios::leaks(&bins(), &Lengths::short()));
}

#[test]
fn a_soak_with_reloads_and_kills_keeps_the_supervisor_flat_and_fails_only_killed_requests() {
    assert_held(scenarios::soak(&bins(), &Lengths::short()));
}

/// PostgreSQL cut, then black-holed, under reads and writes, with the
/// probes of the repository's `ecosystem.toml`: every failure a 503 with
/// `Retry-After` within 1 s, `/health` failing and `/health/live` passing,
/// no worker replaced (probing `/health` there would replace them all),
/// recovery within 2 s, every acknowledged write read back. Skipped, and
/// said so, without `TEST_DATABASE_URL`.
#[test]
fn a_database_outage_fails_requests_fast_replaces_no_worker_and_loses_no_write() {
    assert_held(scenarios::db_outage(&bins(), &Lengths::short()));
}
