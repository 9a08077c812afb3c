//! `corral monit` as an operator sees it: run in a real terminal (a tmux
//! pane, 200x50), it shows every worker of a running supervisor, quits on
//! `q` or Ctrl-C leaving the terminal as it was, and says so and exits 3
//! when the supervisor goes away.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::helper::{Corral, EVENT_TIMEOUT, corral_bin};

const CONFIG: &str = r#"
    [[apps]]
    name = "api"
    command = "{worker}"
    instances = 2
    listen = ["127.0.0.1:0"]
"#;

/// A tmux server of this test's own (`-L`), killed with everything in it
/// when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// A server with one 200x50 pane running a plain `sh` in `dir`, or
    /// `None` (said visibly) if tmux is not installed.
    fn start(name: &str, dir: &Path) -> Option<Self> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("skipped: tmux is not installed (apt-get install tmux)");
            return None;
        }
        let tmux = Self {
            socket: format!("corral-{name}-{}", std::process::id()),
        };
        let started = tmux.run(
            &["new-session", "-d", "-x", "200", "-y", "50", "-c"],
            &[&dir.display().to_string(), "env PS1='$ ' sh"],
        );
        assert!(
            started.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&started.stderr)
        );
        Some(tmux)
    }

    fn run(&self, args: &[&str], more: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .args(more)
            .env_remove("TMUX")
            .output()
            .expect("run tmux")
    }

    /// Types `text` and Enter.
    fn type_line(&self, text: &str) {
        self.run(&["send-keys", "-l", text], &[]);
        self.run(&["send-keys", "Enter"], &[]);
    }

    /// Sends one key by tmux's name for it (`q`, `C-c`).
    fn key(&self, key: &str) {
        self.run(&["send-keys", key], &[]);
    }

    /// What the pane shows.
    fn screen(&self) -> String {
        // -J joins wrapped lines, so a long message is one line.
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-J"], &[]).stdout).into_owned()
    }

    /// Waits until the pane shows what `done` looks for; returns it.
    fn wait_screen(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the pane never showed {what}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"], &[]);
    }
}

/// Pids in the table's rows of `app`.
fn pids_shown(screen: &str, app: &str) -> Vec<i32> {
    screen
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(app))
        .filter_map(|l| l.split_whitespace().nth(2)?.parse().ok())
        .collect()
}

/// Starts monit in the pane, reporting its exit code as `monit-exit=N`.
fn monit(tmux: &Tmux, corral: &Corral) {
    let socket = corral.dir().join("run/corral.sock");
    tmux.type_line(&format!(
        "{} monit --socket {}; echo monit-exit=$?",
        corral_bin().display(),
        socket.display()
    ));
}

#[test]
fn monit_shows_every_worker_and_quits_on_q_or_ctrl_c_giving_the_terminal_back() {
    let mut corral = Corral::start(CONFIG);
    let mut workers = corral.wait_online();
    workers.sort_unstable();
    let Some(tmux) = Tmux::start("quit", corral.dir()) else {
        return;
    };
    for (quit, run) in [("q", 1), ("C-c", 2)] {
        monit(&tmux, &corral);
        let screen = tmux.wait_screen("both workers", |s| {
            let mut shown = pids_shown(s, "api");
            shown.sort_unstable();
            shown == workers
        });
        assert!(
            screen.contains(&format!("supervisor pid {}", corral.pid())),
            "{screen}"
        );
        assert!(
            screen.contains("MEMORY") && screen.contains("CPU"),
            "{screen}"
        );
        tmux.key(quit);
        let needle = "monit-exit=0";
        let screen = tmux.wait_screen("monit's exit", |s| s.matches(needle).count() == run);
        // Back on the main screen: the table is gone with the alternate one.
        assert!(!screen.contains("q to quit"), "{screen}");
    }
    // Raw mode is off again: the terminal echoes and reads lines.
    tmux.type_line("stty -a | tr ' ' '\\n' | grep -x -e icanon -e echo | tr '\\n' ,; echo");
    tmux.wait_screen("the terminal in cooked mode", |s| {
        s.contains("icanon,echo,")
    });
}

#[test]
fn monit_says_when_the_supervisor_goes_away_and_exits_3() {
    let mut corral = Corral::start(CONFIG);
    corral.wait_online();
    let Some(tmux) = Tmux::start("gone", corral.dir()) else {
        return;
    };
    monit(&tmux, &corral);
    tmux.wait_screen("the table", |s| pids_shown(s, "api").len() == 2);
    corral.signal(Signal::SIGTERM);
    corral.wait_exit(EVENT_TIMEOUT);
    // The typed command line holds `monit-exit=$?` too: wait for a digit.
    let screen = tmux.wait_screen("monit's exit", |s| {
        s.match_indices("monit-exit=")
            .any(|(i, m)| s[i + m.len()..].starts_with(|c: char| c.is_ascii_digit()))
    });
    assert!(screen.contains("monit-exit=3"), "{screen}");
    assert!(screen.contains("went away"), "{screen}");
}
