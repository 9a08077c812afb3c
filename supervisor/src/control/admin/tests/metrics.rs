//! The metrics text: what a scrape of a known document says.

use std::collections::BTreeMap;

use chrono::Duration;

use super::{app, doc, online, spawned, worker};
use crate::app::{AppState, DroppedLines, Health, WorkerState};
use crate::control::admin::host::Host;
use crate::control::admin::metrics::render;
use crate::lifecycle::Reason;

const HOST: Host = Host {
    rss_bytes: Some(12_345_678),
    open_fds: Some(42),
    listen_overflows: Some(7),
    listen_drops: Some(9),
};

/// The sample lines of `text`, without HELP and TYPE.
fn samples(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with('#')).collect()
}

fn has(text: &str, line: &str) {
    assert!(samples(text).contains(&line), "no `{line}` in:\n{text}");
}

#[test]
fn each_worker_is_described_by_its_labels() {
    let mut api = online("api", 100);
    api.workers[0].memory_bytes = Some(1_048_576);
    api.workers[0].cpu_percent = Some(150.0);
    api.workers[0].health = Some(Health::Pass);
    api.workers[1].state = WorkerState::Unresponsive;
    api.workers[1].health = Some(Health::Fail);
    let now = spawned() + Duration::milliseconds(90_500);
    let text = render(&doc(vec![api]), &HOST, now).expect("encoded");
    for line in [
        r#"corral_worker_up{app="api",corral_instance="0",pid="100"} 1"#,
        r#"corral_worker_up{app="api",corral_instance="1",pid="101"} 0"#,
        r#"corral_worker_uptime_seconds{app="api",corral_instance="0",pid="100"} 90.5"#,
        r#"corral_worker_memory_bytes{app="api",corral_instance="0",pid="100"} 1048576"#,
        r#"corral_worker_cpu_ratio{app="api",corral_instance="0",pid="100"} 1.5"#,
        r#"corral_worker_healthy{app="api",corral_instance="0",pid="100"} 1"#,
        r#"corral_worker_healthy{app="api",corral_instance="1",pid="101"} 0"#,
    ] {
        has(&text, line);
    }
    let unsampled = r#"{app="api",corral_instance="1",pid="101"}"#;
    for name in ["corral_worker_memory_bytes", "corral_worker_cpu_ratio"] {
        assert!(
            !text.contains(&format!("{name}{unsampled}")),
            "{name} of a worker never sampled:\n{text}"
        );
    }
}

#[test]
fn restarts_are_counted_per_slot_and_per_reason() {
    let mut api = app(
        "api",
        AppState::Online,
        vec![
            worker(0, 100, WorkerState::Stopping),
            worker(0, 102, WorkerState::Online),
            worker(1, 101, WorkerState::Online),
        ],
    );
    api.desired = 2;
    for w in &mut api.workers[..2] {
        w.restarts = 3;
    }
    api.restarts = BTreeMap::from([(Reason::Crash, 2), (Reason::Reload, 1)]);
    api.dropped_lines = DroppedLines { out: 5, err: 0 };
    let text = render(&doc(vec![api]), &HOST, spawned()).expect("encoded");
    assert!(
        text.contains("# TYPE corral_worker_restarts_total counter\n"),
        "{text}"
    );
    let slot_lines: Vec<&str> = samples(&text)
        .into_iter()
        .filter(|l| l.starts_with("corral_worker_restarts_total"))
        .collect();
    assert_eq!(slot_lines.len(), 2, "{text}");
    for line in [
        r#"corral_worker_restarts_total{app="api",corral_instance="0"} 3"#,
        r#"corral_worker_restarts_total{app="api",corral_instance="1"} 0"#,
        r#"corral_app_restarts_total{app="api",reason="crash"} 2"#,
        r#"corral_app_restarts_total{app="api",reason="reload"} 1"#,
        r#"corral_app_dropped_log_lines_total{app="api",stream="out"} 5"#,
        r#"corral_app_dropped_log_lines_total{app="api",stream="err"} 0"#,
        r#"corral_app_desired_workers{app="api"} 2"#,
        r#"corral_app_online_workers{app="api"} 2"#,
    ] {
        has(&text, line);
    }
}

#[test]
fn the_app_state_is_one_of_five_series() {
    let broken = app("broken", AppState::Errored, vec![]);
    let text = render(&doc(vec![broken]), &HOST, spawned()).expect("encoded");
    let states: Vec<&str> = samples(&text)
        .into_iter()
        .filter(|l| l.starts_with("corral_app_state{"))
        .collect();
    assert_eq!(states.len(), 5, "{text}");
    has(&text, r#"corral_app_state{app="broken",state="errored"} 1"#);
    has(&text, r#"corral_app_state{app="broken",state="online"} 0"#);
}

#[test]
fn the_supervisor_and_the_kernel_are_reported_from_the_host_readings() {
    let text = render(&doc(vec![online("api", 100)]), &HOST, spawned()).expect("encoded");
    for line in [
        r#"corral_build_info{version="9.8.7"} 1"#,
        "process_resident_memory_bytes 12345678",
        "process_open_fds 42",
        &format!("process_start_time_seconds {}", spawned().timestamp()),
        "corral_tcp_listen_overflows_total 7",
        "corral_tcp_listen_drops_total 9",
    ] {
        has(&text, line);
    }
    assert!(
        text.contains("# HELP corral_tcp_listen_overflows_total ")
            && text.contains("network namespace"),
        "{text}"
    );
    let unreadable = render(&doc(vec![]), &Host::default(), spawned()).expect("encoded");
    for absent in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "corral_tcp_listen",
    ] {
        assert!(!unreadable.contains(absent), "{absent} in:\n{unreadable}");
    }
}

#[test]
fn every_family_has_help_and_type_and_every_line_is_a_sample_or_either() {
    let text = render(&doc(vec![online("api", 100)]), &HOST, spawned()).expect("encoded");
    for line in text.lines() {
        let ok = line.starts_with("# HELP corral_")
            || line.starts_with("# HELP process_")
            || line.starts_with("# TYPE ")
            || line.starts_with("corral_")
            || line.starts_with("process_");
        assert!(ok, "unexpected line `{line}` in:\n{text}");
    }
    let helps = text.matches("# HELP ").count();
    assert_eq!(helps, text.matches("# TYPE ").count(), "{text}");
}
