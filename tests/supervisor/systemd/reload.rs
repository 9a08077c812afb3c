//! Reloads under systemd: `RELOADING=1` with `MONOTONIC_USEC=` when one
//! starts, then `READY=1` with the new `STATUS=` once its rollout is over,
//! whether SIGHUP or `corral reload` started it; at once for a refused
//! file. That is what lets `systemctl reload` wait for the rollout.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::helper::{Corral, FakeSystemd, corral_bin, get_json, monotonic_usec, notify_value};

const CONFIG: &str = r#"
[[apps]]
name = "api"
command = "{worker}"
instances = 2
listen = ["127.0.0.1:0"]
wait_ready = true
listen_timeout = "{listen_timeout}"
[apps.env]
TW_MARK = "{mark}"
"#;

/// The app, marked `mark`, its workers sending `READY=1` `ready_delay_ms`
/// after they start: a rollout of two then lasts at least twice that.
fn config(mark: &str, ready_delay_ms: u32) -> String {
    CONFIG
        .replace("{mark}", mark)
        .replace("{listen_timeout}", "10s")
        + &format!("TW_READY_DELAY_MS = \"{ready_delay_ms}\"\n")
}

/// A supervisor that told `systemd` it is ready; with its workers' pids.
fn supervised(systemd: &FakeSystemd) -> (Corral, Vec<i32>) {
    let mut corral = Corral::start_with(&config("one", 0), |cmd| {
        cmd.env("NOTIFY_SOCKET", systemd.path());
    });
    let old = corral.wait_online();
    systemd.expect("READY=1");
    (corral, old)
}

/// The control socket of the supervisor, the default of its ecosystem file.
fn socket(corral: &Corral) -> PathBuf {
    corral.dir().join("run/corral.sock")
}

/// `corral ARGS` on the supervisor's control socket, named since the
/// ecosystem file may be broken.
fn cli(corral: &Corral, args: &[&str]) -> Command {
    let mut cmd = corral_in(corral);
    cmd.args(args).arg("--socket").arg(socket(corral));
    cmd
}

/// The `ExecReload=` of systemd/corral.service as systemd would run it for
/// this supervisor: its binary and control socket swapped for the test's.
fn exec_reload(corral: &Corral) -> Command {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/corral.service");
    let unit = std::fs::read_to_string(&unit).expect("read systemd/corral.service");
    let line = unit.lines().find_map(|l| l.strip_prefix("ExecReload="));
    let mut words = line.expect("an ExecReload= line").split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/corral"));
    let args: Vec<&str> = words.collect();
    assert!(
        args.contains(&"/run/corral/corral.sock"),
        "ExecReload= names the RuntimeDirectory's control socket: {args:?}"
    );
    let mut cmd = corral_in(corral);
    for arg in args {
        match arg {
            "/run/corral/corral.sock" => cmd.arg(socket(corral)),
            _ => cmd.arg(arg),
        };
    }
    cmd
}

/// The corral binary, run in the supervisor's folder with its output kept.
fn corral_in(corral: &Corral) -> Command {
    let mut cmd = Command::new(corral_bin());
    cmd.current_dir(corral.dir())
        .env_remove("CORRAL_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn run(corral: &Corral, args: &[&str]) -> Output {
    cli(corral, args).output().expect("run corral")
}

/// Reads what systemd is told up to the next `RELOADING=1`, checks that
/// its `MONOTONIC_USEC` is a time between `since` and now, then reads on
/// up to `READY=1` and returns that message.
fn expect_reload(systemd: &FakeSystemd, since: u64) -> String {
    let reloading = systemd.until("RELOADING=1", |l| l == "RELOADING=1");
    let received = monotonic_usec();
    let reloading = reloading.last().expect("the RELOADING=1 message");
    let usec: u64 = notify_value(reloading, "MONOTONIC_USEC")
        .unwrap_or_else(|| panic!("no MONOTONIC_USEC with RELOADING=1: {reloading:?}"))
        .parse()
        .expect("MONOTONIC_USEC is a number");
    assert!(
        (since..=received).contains(&usec),
        "MONOTONIC_USEC={usec} is not between the reload's start ({since}) and its receipt ({received})"
    );
    let told = systemd.until("READY=1", |l| l == "READY=1");
    let reloading_again = told.iter().filter(|m| m.contains("RELOADING=1")).count();
    assert_eq!(reloading_again, 0, "one reload, one RELOADING=1: {told:?}");
    told.last().expect("the READY=1 message").clone()
}

/// The status document, as `corral status --json` prints it.
fn status(corral: &Corral) -> Value {
    let out = run(corral, &["status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status --json is JSON")
}

/// The pids of the app's workers and their states, from the status.
fn workers(corral: &Corral) -> Vec<(i32, String)> {
    let doc = status(corral);
    let workers = doc["apps"][0]["workers"].as_array().expect("workers");
    workers
        .iter()
        .map(|w| {
            let pid = w["pid"].as_i64().expect("pid") as i32;
            (pid, w["state"].as_str().expect("state").to_owned())
        })
        .collect()
}

/// Right at `READY=1`: two new workers online, no old one left, and the
/// new config serving.
fn assert_rolled_over(corral: &mut Corral, old: &[i32]) {
    let now = workers(corral);
    assert_eq!(now.len(), 2, "{now:?}");
    for (pid, state) in &now {
        assert!(!old.contains(pid), "old worker {pid} still listed: {now:?}");
        assert_eq!(state, "online", "{now:?}");
    }
    let addr = corral.listen_addr();
    for _ in 0..10 {
        assert_eq!(get_json(addr, "/info")["env_TW_MARK"], "two");
    }
}

#[test]
fn sighup_tells_systemd_reloading_then_ready_once_the_new_workers_are_online() {
    let systemd = FakeSystemd::start();
    let (mut corral, old) = supervised(&systemd);
    corral.write_config(&config("two", 300));
    systemd.forget();
    let since = monotonic_usec();
    corral.signal(Signal::SIGHUP);
    let ready = expect_reload(&systemd, since);
    assert!(ready.contains("STATUS=api online 2/2"), "{ready}");
    assert_rolled_over(&mut corral, &old);
}

#[test]
fn the_units_exec_reload_tells_systemd_reloading_then_ready_before_it_returns() {
    let systemd = FakeSystemd::start();
    let (mut corral, old) = supervised(&systemd);
    corral.write_config(&config("two", 300));
    systemd.forget();
    let since = monotonic_usec();
    let reload = exec_reload(&corral).spawn().expect("spawn ExecReload=");
    let ready = expect_reload(&systemd, since);
    assert!(ready.contains("STATUS=api online 2/2"), "{ready}");
    assert_rolled_over(&mut corral, &old);
    let out = reload.wait_with_output().expect("corral reload");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn overlapping_reloads_tell_systemd_ready_once_after_the_last() {
    let systemd = FakeSystemd::start();
    let (mut corral, old) = supervised(&systemd);
    corral.write_config(&config("slow", 3000));
    systemd.forget();
    corral.signal(Signal::SIGHUP);
    corral.wait_message("reload started");
    corral.write_config(&config("two", 0));
    let out = run(&corral, &["reload", "all"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let told = systemd.until("READY=1", |l| l == "READY=1");
    let reloading = told.iter().filter(|m| m.contains("RELOADING=1")).count();
    assert_eq!(reloading, 2, "{told:?}");
    assert_rolled_over(&mut corral, &old);
    // The first reload, superseded, ended too: no second READY=1 follows.
    corral.signal(Signal::SIGTERM);
    let rest = systemd.until("STOPPING=1", |l| l == "STOPPING=1");
    assert!(!rest.iter().any(|m| m.contains("READY=1")), "{rest:?}");
}

#[test]
fn a_refused_file_tells_systemd_ready_at_once_and_corral_reload_exits_2() {
    let systemd = FakeSystemd::start();
    let (corral, old) = supervised(&systemd);
    corral.write_config("[[apps]]\nname = \"api\"\ncommand = ");
    systemd.forget();
    let since = monotonic_usec();
    corral.signal(Signal::SIGHUP);
    let ready = expect_reload(&systemd, since);
    assert!(ready.contains("STATUS=api online 2/2"), "{ready}");

    let since = monotonic_usec();
    let out = run(&corral, &["reload", "all"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("reload refused"), "{stderr}");
    expect_reload(&systemd, since);
    let now: Vec<i32> = workers(&corral).into_iter().map(|(pid, _)| pid).collect();
    assert_eq!(now.len(), 2);
    assert!(now.iter().all(|pid| old.contains(pid)), "{now:?} {old:?}");
}

#[test]
fn a_stopped_rollout_tells_systemd_ready_and_fails_the_units_exec_reload() {
    let systemd = FakeSystemd::start();
    let (corral, old) = supervised(&systemd);
    let broken = CONFIG
        .replace("{mark}", "two")
        .replace("{listen_timeout}", "500ms")
        + "TW_NO_READY = \"1\"\n";
    corral.write_config(&broken);
    systemd.forget();
    let since = monotonic_usec();
    let out = exec_reload(&corral).output().expect("run ExecReload=");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("was not ready within listen_timeout"),
        "{stderr}"
    );
    let ready = expect_reload(&systemd, since);
    assert!(ready.contains("STATUS=api online 2/2"), "{ready}");
    let now = workers(&corral);
    for pid in &old {
        let serving = now.iter().any(|(p, state)| p == pid && state == "online");
        assert!(serving, "old worker {pid} no longer online: {now:?}");
    }
}
