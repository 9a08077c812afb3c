//! The log pipeline end to end: JSON lines for shippers, the supervisor's
//! own log file, and a log file that blocks, which must never hold up
//! reloads or restarts.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::helper::{Corral, get_json, pid_of};

const APP: &str = r#"
[[apps]]
name = "api"
command = "{worker}"
instances = 2
listen = ["127.0.0.1:0"]
wait_ready = true
kill_timeout = "2s"
"#;

/// Every line of `path` once it has at least `n` lines holding `needle`.
fn lines_with(path: &std::path::Path, needle: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let found: Vec<String> = text
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect();
        if found.len() >= n {
            return found;
        }
        assert!(Instant::now() < deadline, "{}: {text}", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn json_lines_carry_app_instance_pid_and_stream_and_keep_json_objects() {
    let mut corral = Corral::start(&format!("{APP}[apps.logs]\nformat = \"json\"\n"));
    corral.wait_online();
    let addr = corral.listen_addr();
    let pid = get_json(addr, "/log?n=3")["pid"].as_i64().expect("pid");
    let out = corral.dir().join("logs/api-out.log");
    let lines = lines_with(&out, &format!("pid={pid}\""), 3);
    let first: serde_json::Value = serde_json::from_str(&lines[0]).expect("a JSON line");
    assert_eq!(first["app"], "api");
    assert_eq!(first["pid"], pid);
    assert_eq!(first["stream"], "out");
    assert!(first["instance"].is_u64(), "{first}");
    assert!(first["timestamp"].is_string(), "{first}");
    assert_eq!(first["message"], format!("log line 0 pid={pid}"));
    // The test worker's error log line is plain text: a JSON string.
    let err = corral.dir().join("logs/api-error.log");
    let stderr = lines_with(&err, "stderr line", 2);
    let value: serde_json::Value = serde_json::from_str(&stderr[0]).expect("a JSON line");
    assert_eq!(value["stream"], "err");
    assert!(value["message"].is_string());
}

#[test]
fn a_worker_line_that_is_json_stays_an_object() {
    // The app under corral writes JSON lines itself.
    let config = r#"
[[apps]]
name = "api"
command = "{app}"
listen = ["127.0.0.1:0"]
wait_ready = true
listen_timeout = "20s"
[apps.env]
DATABASE_URL = "sqlite://data/app.db"
APP_LOG_FORMAT = "json"
[apps.logs]
format = "json"
"#;
    let mut corral = Corral::start(config);
    corral.wait_online();
    crate::helper::get(corral.listen_addr(), "/health").expect("health");
    let out = corral.dir().join("logs/api-out.log");
    let err = corral.dir().join("logs/api-error.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    let object = loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default()
            + &std::fs::read_to_string(&err).unwrap_or_default();
        let found = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["message"].is_object());
        if let Some(found) = found {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no JSON object message in {text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(object["message"]["level"].is_string(), "{object}");
    assert_eq!(object["app"], "api");
}

/// The `message` of every JSON line of `path`.
fn messages(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            v["message"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

#[test]
fn the_supervisor_writes_its_own_log_file_and_reopens_it_on_sigusr1() {
    let config = format!("[supervisor.logs]\nfile = \"corral.log\"\nformat = \"json\"\n{APP}");
    let mut corral = Corral::start(&config);
    corral.wait_online();
    let logs = corral.dir().join("logs");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !messages(&logs.join("corral.log")).contains(&"all apps online".to_owned()) {
        assert!(
            Instant::now() < deadline,
            "the own log file never got the start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // An external logrotate moves it away, then signals.
    std::fs::rename(logs.join("corral.log"), logs.join("corral.log.1")).expect("mv");
    corral.signal(Signal::SIGUSR1);
    corral.wait_message("log files reopened");
    corral.signal(Signal::SIGTERM);
    assert!(corral.wait_exit(Duration::from_secs(10)).success());
    let before = messages(&logs.join("corral.log.1"));
    let after = messages(&logs.join("corral.log"));
    for expected in ["worker spawned", "all apps online", "reopening log files"] {
        assert!(
            before.iter().any(|m| m == expected),
            "{expected} in {before:?}"
        );
    }
    assert!(
        after.iter().any(|m| m == "supervisor stopped"),
        "the reopened file has the rest: {after:?}"
    );
    assert!(!after.iter().any(|m| m == "all apps online"));
}

#[test]
fn a_log_file_that_blocks_holds_up_no_reload_and_no_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("blocked.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    // Opening a FIFO that nobody reads for writing blocks: the app's writer
    // thread is stuck from its first line on.
    let config = format!("{APP}[apps.logs]\nout = \"{}\"\n", fifo.display());
    let mut corral = Corral::start(&config);
    let before = corral.wait_online();
    let addr = corral.listen_addr();
    get_json(addr, "/log?n=1000");

    let start = Instant::now();
    corral.signal(Signal::SIGHUP);
    corral.wait_message("reload complete");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "a reload took {:?}",
        start.elapsed()
    );

    let victim = pid_of(&corral.events("worker online")[2]);
    assert!(!before.contains(&victim));
    let start = Instant::now();
    kill(Pid::from_raw(victim), Signal::SIGKILL).expect("kill");
    corral.wait_for("the replacement online", |e| {
        e["message"] == "worker online" && pid_of(e) != victim && !before.contains(&pid_of(e))
    });
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "a replacement took {:?}",
        start.elapsed()
    );
    assert_eq!(get_json(addr, "/log?n=10")["lines"], 10);
}
