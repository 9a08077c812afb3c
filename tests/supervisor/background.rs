//! `corral start FILE`: a supervisor in the background, in its own session
//! with its own log in `log_dir`, that `start` returns from once every app
//! is online (exit 0) or one errored (exit 1, naming it); then the same
//! verbs as against `corral run` drive it, and `shutdown` ends it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::Value;

use crate::helper::{
    Load, Ran, alive, cgroup_kill_and_remove, check_status_schema, corral_cli_with, expand,
    wait_gone,
};

const APP: &str = r#"
[[apps]]
name = "api"
command = "{worker}"
instances = 2
listen = ["127.0.0.1:0"]
wait_ready = true
[apps.env]
TW_MARK = "{mark}"
"#;

/// A folder with an ecosystem file, and whatever supervisor `corral start`
/// left running there, killed (with its workers) when the test ends.
struct Background {
    dir: tempfile::TempDir,
    pid: Option<i32>,
}

impl Background {
    fn new(config: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("ecosystem.toml"), expand(config)).expect("write config");
        Self { dir, pid: None }
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `corral args...` run here, with JSON logs so the test can read the
    /// background supervisor's log.
    fn cli(&self, args: &[&str]) -> Ran {
        corral_cli_with(self.dir(), args, |cmd| {
            cmd.env("CORRAL_LOG_FORMAT", "json");
        })
    }

    /// `corral start ...`, remembering the supervisor it started.
    fn start(&mut self, args: &[&str]) -> Ran {
        let ran = self.cli(args);
        if let Some(pid) = started_pid(&ran) {
            self.pid = Some(pid);
        }
        ran
    }

    fn status(&self) -> Value {
        let ran = self.cli(&["status", "--json"]);
        assert_eq!(ran.code, 0, "{ran:?}");
        serde_json::from_str(&ran.stdout).expect("status JSON")
    }

    fn log(&self) -> PathBuf {
        self.dir().join("logs/corral.log")
    }

    /// The events of the background supervisor's own log.
    fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// The supervisor's pid, from `corral started (pid N)` or `started (pid
/// N), but ...`.
fn started_pid(ran: &Ran) -> Option<i32> {
    let text = format!("{}{}", ran.stdout, ran.stderr);
    let (_, rest) = text.split_once("started (pid ")?;
    rest.split(')').next()?.parse().ok()
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            wait_gone(&[pid], Duration::from_secs(5));
        }
        let events = self.events();
        for event in &events {
            if event["message"] == "worker spawned"
                && let Some(pid) = event["pid"].as_i64()
            {
                let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
            if event["message"] == "worker containment"
                && let Some(base) = event["cgroups"].as_str()
                && base != "off"
            {
                cgroup_kill_and_remove(Path::new(base));
            }
        }
    }
}

#[test]
fn start_returns_once_every_app_is_online_and_the_verbs_drive_the_background_supervisor() {
    let mut corral = Background::new(&APP.replace("{mark}", "one"));
    let ran = corral.start(&["start"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let pid = corral.pid.expect("the supervisor's pid");
    assert!(ran.stdout.contains("app(s) online"), "{ran:?}");

    // Returned once online: the status says so, at once.
    let doc = corral.status();
    assert_eq!(doc["supervisor"]["pid"], pid);
    assert_eq!(doc["apps"][0]["state"], "online");
    assert_eq!(doc["apps"][0]["online"], 2);
    // Detached: a session of its own, so the terminal's hangup and ^C never
    // reach it; its log in log_dir.
    assert_eq!(
        nix::unistd::getsid(Some(Pid::from_raw(pid))),
        Ok(Pid::from_raw(pid))
    );
    assert!(
        corral
            .events()
            .iter()
            .any(|e| e["message"] == "all apps online"),
        "{}",
        std::fs::read_to_string(corral.log()).unwrap_or_default()
    );

    // `start` again: one supervisor per ecosystem; the running one answers.
    let again = corral.cli(&["start"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(corral.status()["supervisor"]["pid"], pid);

    // The verbs, as against `corral run`.
    let addr: std::net::SocketAddr = corral
        .events()
        .iter()
        .find(|e| e["message"] == "listening")
        .and_then(|e| e["bound"].as_str().map(str::to_owned))
        .expect("a listening event")
        .parse()
        .expect("an address");
    let load = Load::start(addr, 4);
    std::fs::write(
        corral.dir().join("ecosystem.toml"),
        expand(&APP.replace("{mark}", "two")),
    )
    .expect("write config");
    let reloaded = corral.cli(&["reload", "api"]);
    assert_eq!(reloaded.code, 0, "{reloaded:?}");
    let report = load.stop();
    assert!(report.failures.is_empty(), "{}", report.summary());
    assert_eq!(crate::helper::get_json(addr, "/info")["env_TW_MARK"], "two");
    let table = corral.cli(&["status"]);
    assert!(table.stdout.contains("online"), "{table:?}");
    assert_eq!(corral.cli(&["scale", "api", "3"]).code, 0);
    assert_eq!(corral.status()["apps"][0]["online"], 3);
    assert_eq!(corral.cli(&["stop", "api"]).code, 0);
    assert_eq!(corral.status()["apps"][0]["state"], "stopped");
    // `corral start` on a running supervisor starts what is stopped.
    let restarted = corral.cli(&["start"]);
    assert_eq!(restarted.code, 0, "{restarted:?}");
    assert_eq!(corral.status()["apps"][0]["state"], "online");
    let described = corral.cli(&["describe", "api"]);
    assert!(
        described.stdout.contains("api: online (3/3 online)"),
        "{described:?}"
    );
    let before: Vec<Value> = corral.status()["apps"][0]["workers"]
        .as_array()
        .cloned()
        .expect("workers");
    assert_eq!(corral.cli(&["restart", "all"]).code, 0);
    let after = corral.status();
    assert_eq!(after["apps"][0]["restarts"]["manual"], 3, "{after:#}");
    assert!(
        before
            .iter()
            .all(|w| !alive(w["pid"].as_i64().expect("pid") as i32)),
        "every old worker is gone"
    );
    assert_eq!(corral.cli(&["reopen-logs"]).code, 0);
    let logs = corral.cli(&["logs", "api", "--lines", "5"]);
    assert_eq!(logs.code, 0, "{logs:?}");
    assert!(logs.stdout.contains("test-worker started"), "{logs:?}");

    let workers: Vec<i32> = corral.status()["apps"][0]["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| w["pid"].as_i64().expect("pid") as i32)
        .collect();
    let shutdown = corral.cli(&["shutdown"]);
    assert_eq!(shutdown.code, 0, "{shutdown:?}");
    let mut all = workers.clone();
    all.push(pid);
    assert_eq!(wait_gone(&all, Duration::from_secs(10)), Vec::<i32>::new());
    let gone = corral.cli(&["status"]);
    assert_eq!(gone.code, 3, "{gone:?}");
}

#[test]
fn start_exits_1_naming_the_app_that_errored() {
    let mut corral = Background::new(
        r#"
        [[apps]]
        name = "api"
        command = "./no-such-server"
        max_restarts = 1
        exp_backoff_restart_delay = "10ms"
        "#,
    );
    let ran = corral.start(&["start", "ecosystem.toml"]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stderr.contains("api is errored") && ran.stderr.contains("no-such-server"),
        "{ran:?}"
    );
    let pid = corral.pid.expect("the supervisor's pid");
    assert!(
        alive(pid),
        "the supervisor stays up for the operator to look"
    );
    let doc = corral.status();
    assert_eq!(doc["apps"][0]["state"], "errored");
    check_status_schema(&doc);
}

#[test]
fn start_with_a_broken_config_exits_2_naming_the_place_and_starts_nothing() {
    let corral = Background::new("[[apps]]\nname = \"api\"\ncommand = 3\n");
    let ran = corral.cli(&["start", "ecosystem.toml"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stderr.contains("ecosystem.toml:3:"), "{ran:?}");
    assert!(!corral.log().exists(), "nothing was started");
}

#[test]
fn start_says_why_the_background_supervisor_could_not_start() {
    // Its listen address is taken: the supervisor exits at once, and
    // `start` says so with what it logged.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("address");
    let corral = Background::new(
        &APP.replace("{mark}", "one")
            .replace("127.0.0.1:0", &addr.to_string()),
    );
    let ran = corral.cli(&["start"]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stderr.contains("exited") && ran.stderr.contains(&addr.to_string()),
        "{ran:?}"
    );
}

#[test]
fn start_of_an_app_without_a_supervisor_exits_3() {
    let corral = Background::new(&APP.replace("{mark}", "one"));
    let ran = corral.cli(&["start", "api"]);
    assert_eq!(ran.code, 3, "{ran:?}");
    assert!(ran.stderr.contains("corral start"), "{ran:?}");
}
