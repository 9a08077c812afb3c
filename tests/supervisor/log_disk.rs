//! The log pipeline against the disk: a full file system (the app keeps
//! serving, reloads keep working, dropped lines are counted, writing
//! resumes once there is room) and an external logrotate that moves the
//! file away before SIGUSR1 (no line lost).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::helper::{Corral, get_json};

/// A small tmpfs mounted for one test and unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (said on stderr) when this process may not mount.
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("skipped part: cannot mount a tmpfs here (not root?)");
            return None;
        }
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system of `dir` with one file; returns it.
fn fill(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .stderr(std::process::Stdio::null())
        .status();
    filler
}

fn app(log_dir: &Path) -> String {
    format!(
        r#"
[supervisor]
log_dir = "{}"

[[apps]]
name = "api"
command = "{{worker}}"
instances = 2
listen = ["127.0.0.1:0"]
wait_ready = true
kill_timeout = "2s"
"#,
        log_dir.display()
    )
}

/// Waits until `path` holds `needle`.
fn wait_for_text(path: &Path, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(path)
        .unwrap_or_default()
        .contains(needle)
    {
        assert!(
            Instant::now() < deadline,
            "{} never got {needle:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn on_a_full_disk_the_app_serves_reloads_work_lines_are_counted_and_writing_resumes() {
    let Some(fs) = Tmpfs::mount("512k") else {
        return;
    };
    let mut corral = Corral::start(&app(fs.path()));
    corral.wait_online();
    let addr = corral.listen_addr();
    let filler = fill(fs.path());
    for _ in 0..20 {
        assert_eq!(get_json(addr, "/log?n=2000")["lines"], 2000);
    }
    let dropped = corral.wait_for("dropped lines reported", |e| {
        e["message"] == "log lines dropped" && e["stream"] == "out"
    });
    assert!(
        dropped["reason"]
            .as_str()
            .is_some_and(|r| r.contains("No space left on device")),
        "{dropped}"
    );
    corral.signal(Signal::SIGHUP);
    corral.wait_message("reload complete");
    assert!(
        get_json(addr, "/")["pid"].is_i64(),
        "the app serves after the reload"
    );

    std::fs::remove_file(&filler).expect("free the space");
    let out = fs.path().join("api-out.log");
    // Every line written so far is in the file or was counted; a line
    // asked for now lands once the writer retries.
    let deadline = Instant::now() + Duration::from_secs(10);
    let marker = loop {
        let pid = get_json(addr, "/log?n=1")["pid"].as_i64().expect("pid");
        std::thread::sleep(Duration::from_millis(50));
        let marker = format!("log line 0 pid={pid}");
        if std::fs::read_to_string(&out)
            .unwrap_or_default()
            .contains(&marker)
        {
            break marker;
        }
        assert!(Instant::now() < deadline, "writing never resumed");
    };
    let text = std::fs::read_to_string(&out).expect("out log");
    assert!(text.ends_with('\n'), "half a line left behind");
    assert!(
        text.lines().all(|l| l.contains("] ")),
        "a line glued to a fragment"
    );
    eprintln!("writing resumed: {marker}");
    corral.signal(Signal::SIGTERM);
    assert!(corral.wait_exit(Duration::from_secs(10)).success());
    let total = corral
        .events("log lines dropped")
        .iter()
        .filter(|e| e["stream"] == "out")
        .filter_map(|e| e["total"].as_u64())
        .max();
    assert!(total.is_some_and(|t| t > 0), "the dropped count is kept");
}

#[test]
fn lines_written_around_an_external_move_and_sigusr1_are_all_kept() {
    let logs = tempfile::tempdir().expect("temp dir");
    let mut corral = Corral::start(&app(logs.path()));
    corral.wait_online();
    let addr = corral.listen_addr();
    let out = logs.path().join("api-out.log");
    let moved = logs.path().join("api-out.log.1");
    let mut pids = Vec::new();
    let mut batch = |n: u32| {
        let pid = get_json(addr, &format!("/log?n={n}"))["pid"]
            .as_i64()
            .expect("pid");
        pids.push(pid);
        pid
    };
    let before = batch(500);
    wait_for_text(&out, &format!("log line 499 pid={before}"));
    std::fs::rename(&out, &moved).expect("mv");
    let between = batch(500);
    corral.signal(Signal::SIGUSR1);
    corral.wait_message("log files reopened");
    let after = batch(500);
    // Each batch's last line is on disk (in one file or the other): the
    // batches may come from different workers, through different pipes.
    let both = || {
        std::fs::read_to_string(&moved).unwrap_or_default()
            + &std::fs::read_to_string(&out).unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = both();
        let landed = |pid: &i64| {
            let last = format!("log line 499 pid={pid}");
            text.lines().filter(|l| l.ends_with(&last)).count()
                >= pids.iter().filter(|&p| p == pid).count()
        };
        if pids.iter().all(landed) || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    for pid in [before, between, after] {
        for i in 0..500 {
            let line = format!("log line {i} pid={pid}");
            assert_eq!(
                text.lines().filter(|l| l.ends_with(&line)).count(),
                pids.iter().filter(|&&p| p == pid).count(),
                "{line}"
            );
        }
    }
}
