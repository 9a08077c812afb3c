//! Helpers for driving the real `corral` binary: a supervisor in a temp dir
//! whose JSON log events the test waits on, a tiny HTTP client, process
//! and cgroup checks, and a fake systemd notify socket.

mod cgroup;
mod cli;
mod events;
mod http;
mod process;
pub mod runtimes;
mod systemd;

pub use cgroup::kill_and_remove as cgroup_kill_and_remove;
pub use cgroup::{TestCgroup, cgroup_members, cgroup_of, cgroups_expected, writable_own_cgroup};
pub use cli::{Ran, check_status_schema, corral_cli, corral_cli_with};
pub use events::{pid_of, time_between};
pub use http::{Load, LoadReport, get, get_json, post_json, post_json_as, send};
pub use process::{alive, descendants, group_members, pass_as_fd3, pgid_of, pss, wait_gone};
pub use systemd::{FakeSystemd, monotonic_usec, notify_value};

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

/// How long any single expected event may take before the test fails.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(15);

/// The `corral` binary, built next to the test worker by `cargo test --workspace`.
pub fn corral_bin() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_test-worker")).with_file_name("corral");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

/// The Rust test worker.
pub fn test_worker() -> &'static str {
    env!("CARGO_BIN_EXE_test-worker")
}

/// The API server of this workspace (`app/`), built beside corral.
pub fn app_bin() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_test-worker")).with_file_name("app");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

/// The Python test worker.
pub fn py_worker() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("workers/py_worker.py")
}

/// A running supervisor and everything the test learned from its log.
pub struct Corral {
    child: Child,
    dir: tempfile::TempDir,
    lines: mpsc::Receiver<String>,
    events: Vec<Value>,
    /// Lines of stderr that are not JSON events: a refusal before the
    /// logger is set up, or output corral does not format.
    plain: Vec<String>,
    cursor: usize,
    exit: Option<ExitStatus>,
}

impl Corral {
    /// Writes `config` (with `{worker}` replaced by the test worker's path)
    /// as `ecosystem.toml` in a fresh temp dir and runs `corral run` on it.
    pub fn start(config: &str) -> Self {
        Self::start_with(config, |_| {})
    }

    /// As [`Corral::start`], letting the test adjust the command first.
    pub fn start_with(config: &str, adjust: impl FnOnce(&mut Command)) -> Self {
        Self::start_command(
            config,
            Command::new(corral_bin()).args(["run", "ecosystem.toml"]),
            adjust,
        )
    }

    /// As [`Corral::start_with`], with the command line given in full (for a
    /// wrapper that execs corral, as systemd would).
    pub fn start_command(
        config: &str,
        cmd: &mut Command,
        adjust: impl FnOnce(&mut Command),
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("ecosystem.toml"), expand(config)).expect("write config");
        cmd.current_dir(dir.path())
            .env("CORRAL_LOG_FORMAT", "json")
            .env("CORRAL_LOG", "debug")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        adjust(cmd);
        let mut child = cmd.spawn().expect("spawn corral");
        let stderr = child.stderr.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("corral: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            dir,
            lines,
            events: Vec::new(),
            plain: Vec::new(),
            cursor: 0,
            exit: None,
        }
    }

    /// The supervisor's pid.
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// The temp dir holding the ecosystem file and the logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Replaces the ecosystem file (for SIGHUP tests).
    pub fn write_config(&self, config: &str) {
        std::fs::write(self.dir().join("ecosystem.toml"), expand(config)).expect("write config");
    }

    /// Sends a signal to the supervisor.
    pub fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).expect("signal corral");
    }

    fn pull(&mut self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => {
                match serde_json::from_str(&line) {
                    Ok(event) => self.events.push(event),
                    Err(_) => self.plain.push(line),
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Waits for the next event (after the previous match) that satisfies
    /// `pred`, and returns it.
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            if let Some(i) = self.events[self.cursor..].iter().position(&pred) {
                self.cursor += i + 1;
                return self.events[self.cursor - 1].clone();
            }
            if !self.pull(deadline) {
                panic!("timed out waiting for {what}");
            }
        }
    }

    /// Waits for the next event with this message.
    pub fn wait_message(&mut self, message: &str) -> Value {
        self.wait_for(message, |e| e["message"] == message)
    }

    /// Every event so far with this message.
    pub fn events(&self, message: &str) -> Vec<Value> {
        self.events
            .iter()
            .filter(|e| e["message"] == message)
            .cloned()
            .collect()
    }

    /// Lines read so far from stderr that are not JSON events.
    pub fn plain_lines(&self) -> &[String] {
        &self.plain
    }

    /// Every event read so far, for a check that none was logged.
    pub fn all_events(&self) -> &[Value] {
        &self.events
    }

    /// The address the first `listen` socket is bound to.
    pub fn listen_addr(&mut self) -> SocketAddr {
        let event = self.events("listening").into_iter().next();
        let event = event.unwrap_or_else(|| {
            let saved = self.cursor;
            let e = self.wait_message("listening");
            self.cursor = saved;
            e
        });
        event["bound"]
            .as_str()
            .expect("bound address")
            .parse()
            .expect("socket address")
    }

    /// Waits until every app is online; returns the workers' pids.
    pub fn wait_online(&mut self) -> Vec<i32> {
        self.wait_message("all apps online");
        self.events("worker online")
            .iter()
            .map(|e| e["pid"].as_i64().expect("pid") as i32)
            .collect()
    }

    /// Waits for the supervisor to exit, failing the test after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.exit = Some(status);
                while self.pull(Instant::now() + Duration::from_millis(200)) {}
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "corral did not exit within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What the app log `file` (under `logs/`) holds so far.
    pub fn read_log(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir().join("logs").join(file)).unwrap_or_default()
    }

    /// Waits until the app log `file` (under `logs/`) holds `needle` at
    /// least `n` times: how a test knows requests reached the workers.
    pub fn wait_log(&self, file: &str, needle: &str, n: usize) {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            let text = self.read_log(file);
            if text.matches(needle).count() >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{needle:?} never appeared {n} times in {file}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Pids of every worker the supervisor spawned so far.
    pub fn spawned_pids(&self) -> Vec<i32> {
        self.events("worker spawned")
            .iter()
            .filter_map(|e| e["pid"].as_i64())
            .map(|p| p as i32)
            .collect()
    }
}

impl Drop for Corral {
    /// Leaves no process behind, whatever the test did: the supervisor is
    /// killed, and any worker it spawned that is still alive too, with
    /// everything in its cgroup.
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        while self.pull(Instant::now() + Duration::from_millis(50)) {}
        for pid in self.spawned_pids() {
            let _ = nix::sys::signal::killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let cgroups = self.events("worker containment");
        if let Some(base) = cgroups.first().and_then(|e| e["cgroups"].as_str())
            && base != "off"
        {
            cgroup::kill_and_remove(Path::new(base));
        }
    }
}

/// `config` with `{worker}`, `{app}` and `{py_worker}` replaced by their
/// paths, as every test writes its ecosystem file.
pub fn expand(config: &str) -> String {
    config
        .replace("{worker}", test_worker())
        .replace("{app}", &app_bin().display().to_string())
        .replace("{py_worker}", &py_worker().display().to_string())
}
