//! `max_memory_restart`: a worker whose PSS stays over the limit for
//! `memory_check_samples` samples in a row is replaced new-first, failing
//! no request; a spike shorter than that replaces nothing.

use std::time::{Duration, Instant};

use crate::helper::{Corral, Load, get, get_json, pid_of, pss, wait_gone};

/// The limit, in MiB; a test worker starts far below it.
const LIMIT_MB: u64 = 60;

fn limited(samples: u32) -> String {
    format!(
        r#"
        [[apps]]
        name = "api"
        command = "{{worker}}"
        instances = 2
        listen = ["127.0.0.1:0"]
        wait_ready = true
        kill_timeout = "3s"
        max_memory_restart = "{LIMIT_MB}M"
        memory_check_interval = "200ms"
        memory_check_samples = {samples}
        "#
    )
}

#[test]
fn a_worker_that_grows_past_the_limit_is_replaced_new_first_without_a_failed_request() {
    let mut corral = Corral::start(&limited(3));
    let before = corral.wait_online();
    let addr = corral.listen_addr();
    let load = Load::start(addr, 2);
    let leaky = before[0];
    let health = corral.health_addr(leaky);
    let leaked = get_json(health, &format!("/leak?mb={}", LIMIT_MB + 20));
    assert_eq!(
        leaked["pid"], leaky,
        "the private socket reaches that worker"
    );
    assert!(pss(leaky) > LIMIT_MB << 20, "the leak is over the limit");

    let replacing = corral.wait_message("replacing worker");
    assert_eq!(pid_of(&replacing), leaky);
    assert_eq!(replacing["reason"], "memory");
    let spawned = corral.wait_for("the replacement spawned", |e| {
        e["message"] == "worker spawned" && e["reason"] == "memory"
    });
    let new = pid_of(&spawned);
    corral.wait_for("the replacement online", |e| {
        e["message"] == "worker online" && pid_of(e) == new
    });
    // Only now, new-first, is the old worker told to stop.
    corral.wait_for("the leaky worker told to stop", |e| {
        e["message"] == "stopping worker" && pid_of(e) == leaky
    });
    corral.wait_for("the leaky worker stopped", |e| {
        e["message"] == "worker stopped" && pid_of(e) == leaky
    });
    let report = load.stop();
    assert!(report.ok > 0);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert!(wait_gone(&[leaky], Duration::from_secs(1)).is_empty());
    assert_eq!(corral.events("replacing worker").len(), 1);
    let other = before[1];
    assert!(
        corral.events_of("stopping worker", other).is_empty(),
        "the worker under the limit is left alone"
    );
}

#[test]
fn a_spike_shorter_than_the_samples_in_a_row_replaces_nothing() {
    // Four samples 200 ms apart take 600 ms at least; each spike is over
    // the limit for about 300 ms, so at most two samples in a row see it,
    // and at least one does (a limit acting on one sample would fire).
    let mut corral = Corral::start(&limited(4));
    let before = corral.wait_online();
    let spiky = before[0];
    let health = corral.health_addr(spiky);
    for _ in 0..4 {
        let path = format!("/spike?mb={}&ms=300", LIMIT_MB + 20);
        let spike = std::thread::spawn(move || get(health, &path));
        let start = Instant::now();
        let mut peak = 0;
        while !spike.is_finished() {
            peak = peak.max(pss(spiky));
            std::thread::sleep(Duration::from_millis(5));
        }
        if spike.join().expect("spike thread").is_err() {
            break; // The worker went away mid-spike: the check below says why.
        }
        assert!(peak > LIMIT_MB << 20, "the spike went over: {peak} bytes");
        assert!(start.elapsed() >= Duration::from_millis(300));
        assert!(
            pss(spiky) < LIMIT_MB << 20,
            "the spike's memory was returned"
        );
        corral.observe(Duration::from_millis(500));
    }
    corral.observe(Duration::from_secs(1));
    let replacing = corral.events("replacing worker");
    assert!(replacing.is_empty(), "a spike is not a leak: {replacing:?}");
    assert_eq!(corral.spawned_pids().len(), 2);
}
