//! Worker output: captured line by line into the app's out and error files
//! with a timestamp and the instance; SIGUSR1 reopens the files.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::helper::{Corral, get_json};

const CONFIG: &str = r#"
[[apps]]
name = "api"
command = "{worker}"
instances = 2
listen = ["127.0.0.1:0"]
wait_ready = true
log_date_format = "%Y-%m-%d %H:%M:%S"
"#;

/// Waits until `path` holds at least `n` lines containing `needle`.
fn wait_lines(path: &Path, needle: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect();
        if lines.len() >= n {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "{} has {} of {n} `{needle}` lines:\n{text}",
            path.display(),
            lines.len()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn worker_output_lands_in_the_app_files_stamped_with_time_and_instance() {
    let mut corral = Corral::start(CONFIG);
    corral.wait_online();
    let logs = corral.dir().join("logs");
    let started = wait_lines(&logs.join("api-out.log"), "test-worker started", 2);
    for line in &started {
        let (stamp, rest) = line.split_at(19);
        assert!(chrono_like(stamp), "timestamp in log_date_format: {line}");
        assert!(
            rest.starts_with(" [0] ") || rest.starts_with(" [1] "),
            "instance prefix: {line}"
        );
    }
    wait_lines(&logs.join("api-error.log"), "test-worker stderr line", 2);
    let pid = get_json(corral.listen_addr(), "/log?n=500")["pid"]
        .as_i64()
        .expect("pid");
    let lines = wait_lines(&logs.join("api-out.log"), "log line", 500);
    assert_eq!(lines.len(), 500, "every line once");
    for (i, line) in lines.iter().enumerate() {
        assert!(
            line.ends_with(&format!("log line {i} pid={pid}")),
            "lines in order, none lost: {line}"
        );
    }
}

#[test]
fn sigusr1_reopens_the_log_files_after_an_external_rotation() {
    let mut corral = Corral::start(CONFIG);
    corral.wait_online();
    let logs = corral.dir().join("logs");
    wait_lines(&logs.join("api-out.log"), "test-worker started", 2);
    std::fs::rename(logs.join("api-out.log"), logs.join("api-out.log.1")).expect("rotate");
    corral.signal(Signal::SIGUSR1);
    corral.wait_message("log files reopened");
    let pid = get_json(corral.listen_addr(), "/log?n=5")["pid"]
        .as_i64()
        .expect("pid");
    wait_lines(&logs.join("api-out.log"), &format!("pid={pid}"), 5);
    let rotated = std::fs::read_to_string(logs.join("api-out.log.1")).expect("rotated file");
    assert!(
        !rotated.contains("log line"),
        "lines after reopening go to the new file"
    );
}

/// `YYYY-MM-DD HH:MM:SS`.
fn chrono_like(stamp: &str) -> bool {
    let b = stamp.as_bytes();
    stamp.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

#[test]
fn a_log_file_that_cannot_be_written_never_blocks_the_worker() {
    // /dev/full answers every write with ENOSPC, as a full disk does.
    let config = format!("{CONFIG}[apps.logs]\nout = \"/dev/full\"\n");
    let mut corral = Corral::start(&config);
    corral.wait_online();
    let addr = corral.listen_addr();
    get_json(addr, "/log?n=20000");
    let dropped =
        |e: &serde_json::Value| e["message"] == "log lines dropped" && e["stream"] == "out";
    // Usually reported at the worker's first line, before it was online.
    let first = match corral
        .events("log lines dropped")
        .into_iter()
        .find(|e| dropped(e))
    {
        Some(event) => event,
        None => corral.wait_for("dropped lines reported", dropped),
    };
    assert!(
        first["reason"]
            .as_str()
            .is_some_and(|r| r.contains("No space left on device")),
        "{first}"
    );
    for _ in 0..20 {
        get_json(addr, "/log?n=1000");
    }
    corral.signal(Signal::SIGTERM);
    assert!(corral.wait_exit(Duration::from_secs(10)).success());
    let last = corral
        .events("log lines dropped")
        .into_iter()
        .rfind(|e| dropped(e))
        .expect("a final count");
    assert!(last["total"].as_u64().expect("count") >= 40_000, "{last}");
}
