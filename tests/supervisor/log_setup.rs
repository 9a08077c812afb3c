//! A bad log setup is refused before anything starts: a `log_dir` that
//! cannot be written, and a second supervisor on a `log_dir` in use. The
//! lock dies with its holder, even a SIGKILLed one, and a reload that
//! moves `log_dir` takes the new lock before it lets go of the old.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::helper::{Corral, alive, corral_bin, get_json};

const CONFIG: &str = r#"
[supervisor]
log_dir = "{log_dir}"

[[apps]]
name = "api"
command = "{worker}"
instances = 2
listen = ["127.0.0.1:0"]
wait_ready = true
"#;

fn config(log_dir: &str) -> String {
    CONFIG.replace("{log_dir}", log_dir)
}

/// `corral run` on the ecosystem file of `first`, as an operator starting
/// the same service twice would.
fn run_beside(first: &Corral) -> Corral {
    let file = first.dir().join("ecosystem.toml");
    Corral::start_command(
        &config("unused"),
        Command::new(corral_bin()).arg("run").arg(file),
        |_| {},
    )
}

/// The refusal line of a `corral run` that must exit 2 having started
/// nothing: no log event at all, since it stops before the logger's first
/// line.
fn refusal(corral: &mut Corral) -> String {
    let status = corral.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(2), "{:?}", corral.plain_lines());
    assert!(
        corral.all_events().is_empty(),
        "it started something: {:?}",
        corral.all_events()
    );
    match corral.plain_lines() {
        [line] => line.clone(),
        lines => panic!("expected one line, got {lines:?}"),
    }
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().expect("canonical path")
}

#[test]
fn run_refuses_a_log_dir_it_cannot_write_and_starts_no_worker() {
    // The ecosystem file is a regular file: nothing can be created below it.
    let mut corral = Corral::start(&config("ecosystem.toml/logs"));
    let line = refusal(&mut corral);
    assert_eq!(
        line,
        format!(
            "corral: cannot write logs in {}/ecosystem.toml/logs: Not a directory (os error 20)",
            canonical(corral.dir()).display()
        )
    );
}

#[test]
fn a_second_supervisor_on_the_same_log_dir_is_refused_and_the_first_keeps_serving() {
    let mut first = Corral::start(&config("logs"));
    let workers = first.wait_online();
    let addr = first.listen_addr();

    let mut second = run_beside(&first);
    assert_eq!(
        refusal(&mut second),
        format!(
            "corral: {}/logs is in use by another corral (pid {}); stop it first, or give this one another log_dir",
            canonical(first.dir()).display(),
            first.pid()
        )
    );

    let lock = std::fs::read_to_string(first.dir().join("logs/.corral.lock")).expect("lock file");
    assert_eq!(lock, format!("{}\n", first.pid()), "the holder's pid");
    for _ in 0..10 {
        let pid = get_json(addr, "/")["pid"].as_i64().expect("pid") as i32;
        assert!(
            workers.contains(&pid),
            "answered by {pid}, not by {workers:?}"
        );
    }
    assert!(workers.iter().all(|&pid| alive(pid)));

    // Only the supervisor has the lock open: a worker or the guard holding
    // it would keep the folder locked after the supervisor died.
    let lock_file = canonical(&first.dir().join("logs/.corral.lock"));
    assert!(has_open(first.pid().as_raw(), &lock_file));
    let guard = first.events("worker containment")[0]["guard"]
        .as_i64()
        .expect("guard pid") as i32;
    for pid in workers.iter().copied().chain([guard]) {
        assert!(!has_open(pid, &lock_file), "pid {pid} inherited the lock");
    }
}

/// Whether process `pid` has `file` open.
fn has_open(pid: i32, file: &Path) -> bool {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).expect("list fds");
    fds.flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == file))
}

#[test]
fn the_lock_of_a_sigkilled_supervisor_does_not_block_the_next_one() {
    let mut first = Corral::start(&config("logs"));
    first.wait_online();
    first.signal(Signal::SIGKILL);
    first.wait_exit(Duration::from_secs(10));
    // The stale file stays, with the dead supervisor's pid in it.
    assert!(first.dir().join("logs/.corral.lock").exists());

    let mut next = run_beside(&first);
    next.wait_online();
    let pid = get_json(next.listen_addr(), "/")["pid"]
        .as_i64()
        .expect("pid");
    assert!(next.spawned_pids().contains(&(pid as i32)));
    let lock = std::fs::read_to_string(first.dir().join("logs/.corral.lock")).expect("lock file");
    assert_eq!(lock, format!("{}\n", next.pid()), "the new holder's pid");
}

#[test]
fn a_reload_to_a_log_dir_in_use_or_unwritable_is_refused_and_a_good_one_moves_the_lock() {
    let mut corral = Corral::start(&config("logs"));
    corral.wait_online();
    let mut other = Corral::start(&config("logs"));
    other.wait_online();
    let taken = canonical(other.dir()).join("logs");
    let base = canonical(corral.dir());

    let refused = |corral: &mut Corral, log_dir: &str, reason: String| {
        corral.write_config(&config(log_dir));
        corral.signal(Signal::SIGHUP);
        let event = corral.wait_for("the reload's refusal", |e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("reload refused"))
        });
        assert_eq!(
            event["message"],
            format!("reload refused, the running config stays: {reason}")
        );
    };
    refused(
        &mut corral,
        &taken.display().to_string(),
        format!(
            "{} is in use by another corral (pid {}); stop it first, or give this one another log_dir",
            taken.display(),
            other.pid()
        ),
    );
    refused(
        &mut corral,
        "ecosystem.toml/logs",
        format!(
            "cannot write logs in {}/ecosystem.toml/logs: Not a directory (os error 20)",
            base.display()
        ),
    );
    // The running config kept its lock through both refusals.
    let mut beside = run_beside(&corral);
    refusal(&mut beside);

    corral.write_config(&config("logs2"));
    corral.signal(Signal::SIGHUP);
    corral.wait_message("log_dir changed; the old one is released");
    corral.wait_message("reload complete");
    // The old folder is free: a supervisor on it starts (with a control
    // socket of its own: the first one's is still taken).
    corral.write_config(&config("logs").replace(
        "[supervisor]\n",
        "[supervisor]\ncontrol_socket = \"run/next.sock\"\n",
    ));
    let mut next = run_beside(&corral);
    next.wait_online();
    // And the new one is held.
    let held = base.join("logs2");
    let lock = std::fs::read_to_string(held.join(".corral.lock")).expect("lock file");
    assert_eq!(lock, format!("{}\n", corral.pid()));
}
