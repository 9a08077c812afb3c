//! The operator's verbs against a running supervisor, through its control
//! socket, as an operator types them: what they print, what they change,
//! and their exit codes.

use std::time::Duration;

use crate::helper::{Corral, Load, alive, check_status_schema, corral_cli, get_json};

const APP: &str = r#"
[[apps]]
name = "api"
command = "{worker}"
instances = 2
listen = ["127.0.0.1:0"]
wait_ready = true
kill_timeout = "3s"
[apps.env]
TW_MARK = "{mark}"
SECRET_TOKEN = "planted-secret-value"
DATABASE_URL = "postgres://api:planted-password@db/api"
"#;

fn app(mark: &str) -> String {
    APP.replace("{mark}", mark)
}

fn online(mark: &str) -> Corral {
    let mut corral = Corral::start(&app(mark));
    corral.wait_online();
    corral
}

fn status(corral: &Corral) -> serde_json::Value {
    serde_json::from_str(&corral.cli_ok(&["status", "--json"])).expect("status JSON")
}

fn pids(corral: &Corral) -> Vec<i64> {
    status(corral)["apps"][0]["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| w["pid"].as_i64().expect("pid"))
        .collect()
}

#[test]
fn status_prints_a_table_and_a_json_document_that_matches_its_schema() {
    let mut corral = Corral::start(&app("one"));
    let pids = corral.wait_online();
    let table = corral.cli_ok(&["status"]);
    assert!(table.starts_with("APP  ID  PID"), "{table}");
    for pid in &pids {
        assert!(table.contains(&pid.to_string()), "{table}");
    }
    assert_eq!(corral.cli_ok(&["ls"]).lines().count(), 3, "aliases work");
    let doc = status(&corral);
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["supervisor"]["pid"], corral.pid().as_raw());
    assert_eq!(doc["apps"][0]["online"], 2);
    check_status_schema(&doc);
    corral.cli_ok(&["stop", "api"]);
    check_status_schema(&status(&corral));
}

#[test]
fn reload_of_one_app_under_load_fails_no_request_and_returns_when_done() {
    let mut corral = online("one");
    let before = pids(&corral);
    let load = Load::start(corral.listen_addr(), 4);
    corral.write_config(&app("two"));
    let out = corral.cli_ok(&["reload", "api"]);
    assert_eq!(out.trim(), "api reloaded");
    // When `reload` returns, every worker runs the new config.
    let after = pids(&corral);
    assert!(
        after.iter().all(|p| !before.contains(p)),
        "{before:?} {after:?}"
    );
    for _ in 0..10 {
        assert_eq!(
            get_json(corral.listen_addr(), "/info")["env_TW_MARK"],
            "two"
        );
    }
    let report = load.stop();
    assert!(report.failures.is_empty(), "{}", report.summary());
}

#[test]
fn a_reload_to_a_command_that_exits_at_once_exits_1_with_the_reason_and_the_old_workers_serve() {
    let mut corral = online("one");
    let before = pids(&corral);
    corral.write_config(&format!("{}TW_EXIT_AT_START = \"1\"\n", app("two")));
    let ran = corral.cli(&["reload", "all"]);
    assert_eq!(ran.code, 1, "{ran:?}");
    check_status_schema(&status(&corral));
    assert!(ran.stderr.contains("reload stopped"), "{ran:?}");
    assert_eq!(pids(&corral), before, "the old workers keep serving");
    assert_eq!(
        get_json(corral.listen_addr(), "/info")["env_TW_MARK"],
        "one"
    );
}

#[test]
fn scale_up_and_down_under_load_fails_no_request() {
    let mut corral = online("one");
    let load = Load::start(corral.listen_addr(), 4);
    assert_eq!(
        corral.cli_ok(&["scale", "api", "3"]).trim(),
        "api runs 3 workers"
    );
    let doc = status(&corral);
    assert_eq!(doc["apps"][0]["online"], 3, "online before scale returns");
    assert_eq!(
        corral.cli_ok(&["scale", "api", "1"]).trim(),
        "api runs 1 worker"
    );
    let doc = status(&corral);
    assert_eq!(
        doc["apps"][0]["workers"].as_array().map(Vec::len),
        Some(1),
        "drained"
    );
    let report = load.stop();
    assert!(report.failures.is_empty(), "{}", report.summary());
    assert_eq!(corral.cli(&["scale", "api", "0"]).code, 2);
}

#[test]
fn stop_start_and_restart_do_what_they_say() {
    let corral = online("one");
    let before = pids(&corral);
    assert_eq!(corral.cli_ok(&["stop", "api"]).trim(), "api stopped");
    assert!(
        before.iter().all(|&p| !alive(p as i32)),
        "every worker is gone"
    );
    assert_eq!(status(&corral)["apps"][0]["state"], "stopped");
    assert_eq!(corral.cli_ok(&["start", "api"]).trim(), "api started");
    let started = pids(&corral);
    assert_eq!(started.len(), 2);
    assert_eq!(corral.cli_ok(&["restart", "all"]).trim(), "api restarted");
    let restarted = pids(&corral);
    assert!(restarted.iter().all(|p| !started.contains(p)));
    let doc = status(&corral);
    assert_eq!(doc["apps"][0]["restarts"]["manual"], 2);
    assert_eq!(doc["apps"][0]["workers"][0]["last_reason"], "manual");
}

#[test]
fn describe_and_status_never_print_a_planted_secret() {
    let corral = online("one");
    let outputs = [
        corral.cli_ok(&["describe", "api"]),
        corral.cli_ok(&["describe", "api", "--json"]),
        corral.cli_ok(&["status"]),
        corral.cli_ok(&["status", "--json"]),
    ];
    for out in &outputs {
        assert!(!out.contains("planted-secret-value"), "{out}");
        assert!(!out.contains("planted-password"), "{out}");
    }
    let described = &outputs[0];
    assert!(described.contains("SECRET_TOKEN = \"***\""), "{described}");
    assert!(
        described.contains("postgres://api:***@db/api"),
        "{described}"
    );
    assert!(described.contains("instances: 2 -> 2"), "{described}");
    assert!(described.contains("spawned (start)"), "{described}");
}

#[test]
fn requests_for_what_does_not_exist_are_usage_errors() {
    let corral = online("one");
    let ran = corral.cli(&["reload", "nope"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stderr.contains("no app `nope`"), "{ran:?}");
    assert_eq!(corral.cli(&["describe", "nope"]).code, 2);
    assert_eq!(corral.cli(&["stop", "nope"]).code, 2);
}

#[test]
fn with_no_supervisor_every_verb_exits_3_and_says_how_to_start_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("none.sock");
    let socket = socket.to_str().expect("utf-8");
    for verb in [
        &["status"][..],
        &["reload", "all"],
        &["logs"],
        &["shutdown"],
    ] {
        let mut args = verb.to_vec();
        args.extend(["--socket", socket]);
        let ran = corral_cli(dir.path(), &args);
        assert_eq!(ran.code, 3, "{verb:?}: {ran:?}");
        assert!(
            ran.stderr.contains("no supervisor is running") && ran.stderr.contains("corral start"),
            "{ran:?}"
        );
    }
}

#[test]
fn logs_prints_history_and_follows_new_lines_across_a_rotation() {
    let config = format!("{}[apps.logs]\nmax_size = \"16K\"\n", app("one"));
    let mut corral = Corral::start(&config);
    corral.wait_online();
    let addr = corral.listen_addr();
    get_json(addr, "/log?n=5");
    // The lines reach the file within a capture period; poll for them.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let history = loop {
        let history = corral.cli_ok(&["logs", "api", "--out", "--lines", "3"]);
        if history.contains("log line 4") || std::time::Instant::now() > deadline {
            break history;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(history.lines().count(), 3, "{history}");
    assert!(history.lines().all(|l| l.contains("log line")), "{history}");

    let socket = corral.socket();
    let mut follow = std::process::Command::new(crate::helper::corral_bin())
        .args([
            "logs", "api", "--out", "--lines", "0", "--follow", "--socket",
        ])
        .arg(&socket)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("logs --follow");
    let stdout = follow.stdout.take().expect("piped");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    // 2000 lines of ~60 bytes: the file rotates several times meanwhile.
    let pid = get_json(addr, "/log?n=2000")["pid"].as_i64().expect("pid");
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 2000 {
        let line = lines
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("followed {} of 2000 lines", seen.len()));
        if let Some(n) = line
            .strip_suffix(&format!(" pid={pid}"))
            .and_then(|l| l.rsplit("log line ").next())
            .and_then(|n| n.parse::<u32>().ok())
        {
            seen.insert(n);
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    let rotated = std::fs::read_dir(corral.dir().join("logs"))
        .expect("logs")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("api-out.20"))
        })
        .count();
    assert!(
        rotated >= 2,
        "the file rotated while followed ({rotated} rotated files)"
    );
}

#[test]
fn reopen_logs_and_shutdown_act_as_their_signals() {
    let mut corral = online("one");
    corral.wait_log("api-out.log", "test-worker started", 2);
    let logs = corral.dir().join("logs");
    std::fs::rename(logs.join("api-out.log"), logs.join("api-out.log.1")).expect("mv");
    assert_eq!(corral.cli_ok(&["reopen-logs"]).trim(), "log files reopened");
    let pid = get_json(corral.listen_addr(), "/log?n=1")["pid"]
        .as_i64()
        .expect("pid");
    corral.wait_log("api-out.log", &format!("log line 0 pid={pid}"), 1);
    let out = corral.cli_ok(&["shutdown"]);
    assert!(out.contains("shutting down"), "{out}");
    assert!(corral.wait_exit(Duration::from_secs(10)).success());
    assert!(!corral.socket().exists(), "the control socket is removed");
}

#[test]
fn a_second_supervisor_on_the_same_control_socket_is_refused_naming_the_first() {
    let corral = online("one");
    let other = tempfile::tempdir().expect("temp dir");
    let config = format!(
        "[supervisor]\ncontrol_socket = \"{}\"\n{}",
        corral.socket().display(),
        app("two").replace("{worker}", crate::helper::test_worker())
    );
    std::fs::write(other.path().join("ecosystem.toml"), config).expect("write");
    let ran = corral_cli(other.path(), &["run"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr
            .contains(&format!("in use by another corral (pid {})", corral.pid())),
        "{ran:?}"
    );
    assert_eq!(
        corral.cli(&["status"]).code,
        0,
        "the first one is untouched"
    );
}

#[test]
fn a_client_of_another_user_is_refused_and_logged() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: running a client as another user needs root");
        return;
    }
    let mut corral = online("one");
    // Open the folder and the socket to everyone, so that only the
    // supervisor's own check stands between `nobody` and the socket.
    use std::os::unix::fs::PermissionsExt as _;
    let socket = corral.socket();
    for (path, mode) in [
        (corral.dir().to_path_buf(), 0o755),
        (socket.parent().expect("dir").to_path_buf(), 0o755),
        (socket.clone(), 0o666),
    ] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let ran = std::process::Command::new("runuser")
        .args(["-u", "nobody", "--"])
        .arg(crate::helper::corral_bin())
        .args(["status", "--socket"])
        .arg(&socket)
        .current_dir("/")
        .output()
        .expect("runuser");
    assert_eq!(ran.status.code(), Some(1), "{ran:?}");
    let said = String::from_utf8_lossy(&ran.stderr);
    assert!(
        said.contains("only its own user or root may control it"),
        "{said}"
    );
    let refused = corral.wait_message("control connection refused: another user");
    let nobody = nix::unistd::User::from_name("nobody")
        .expect("passwd")
        .expect("nobody");
    assert_eq!(refused["uid"], nobody.uid.as_raw());
}
