//! `test-worker`: the worker the end-to-end tests run under the supervisor.
//!
//! It speaks the supervisor's start protocol from the worker's side (inherited
//! sockets per sd_listen_fds(3), readiness and heartbeats per sd_notify(3), a
//! graceful drain on SIGTERM) and exposes over HTTP what it inherited, so that
//! tests can check the protocol end to end. `TW_*` environment variables make
//! it misbehave in the ways the tests need:
//!
//! - `TW_EXIT_AT_START=CODE`: exit with `CODE` before doing anything.
//! - `TW_NO_READY=1`: never send `READY=1`; `TW_READY_DELAY_MS=N`: send it
//!   after N ms.
//! - `TW_EXIT_AFTER_MS=N`: exit 1 after N ms; with `TW_NO_READY=1`, a worker
//!   that fails before it was ever ready.
//! - `TW_IGNORE_TERM=1`: ignore SIGTERM (the supervisor must SIGKILL it).
//! - `TW_SLOW_DRAIN_MS=N`: on SIGTERM, keep accepting and serving for N ms
//!   before closing the listeners and draining.
//! - `TW_SPAWN_CHILD=1`: start a `sleep` child in our process group;
//!   `TW_ORPHAN=1`: leave a short-lived orphan for the supervisor to reap.
//! - `TW_HEALTH=pass|fail|hang`: how `GET /health` answers at start (default
//!   `pass`); `GET /health/set?mode=...` switches it later ([`health`]).
//! - `TW_PRINT_LINES=N`: right after start, print N numbered lines to stdout
//!   as fast as the pipe takes them, `worker=<instance> pid=<pid> line=<n>`
//!   for n = 0..N-1 in order, then `test-worker printed lines=N pid=<pid>`
//!   to stderr; the worker serves meanwhile and afterwards ([`emit`]).
//! - `TW_LOG_RATE=R`: print R lines a second to stdout until stopped, in a
//!   batch every 10 ms, each an access-log line of about 150 bytes that
//!   starts `access worker=<instance> pid=<pid> seq=<n> ` (n from 0).
//!   With `TW_LOG_EACH=1`, each line is written on its own when it is due
//!   (line n at n/R s), like a server logging each request as it ends.
//!
//! Otherwise both write whole lines in chunks of about 64 KiB (one
//! `write_all` each, under stdout's lock), not one `write` per line.
//!
//! Over HTTP, besides `/health`: `GET /leak?mb=N` leaks N MiB of touched
//! memory for good ([`leak`]), `GET /spike?mb=N&ms=M` holds N MiB of touched
//! memory for M ms and then returns it to the kernel ([`spike`]),
//! `GET /watchdog/stop` stops the `WATCHDOG=1` heartbeats, `GET /crash`
//! exits 3 (see [`routes`]).

mod emit;
mod health;
mod http;
mod info;
mod json;
mod leak;
mod listen;
mod notify;
mod routes;
mod server;
mod spike;

use std::io::Write;
use std::os::fd::RawFd;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use notify::Notifier;

/// State shared by the accept loops, the connection threads and `main`.
pub struct Worker {
    /// Our pid, printed in every answer so tests can tell workers apart.
    pub pid: u32,
    /// `CORRAL_INSTANCE`, or empty when unset.
    pub instance: String,
    /// The `sleep` child started by `TW_SPAWN_CHILD=1`, for orphan tests.
    pub child_pid: Option<u32>,
    /// A process started by `TW_ORPHAN=1` whose parent (a shell) exited at
    /// once, so it is reparented to the supervisor, which must reap it.
    pub orphan_pid: Option<u32>,
    /// Our sd_notify socket's fd, so `/info` can tell it from inherited fds.
    pub notify_fd: Option<RawFd>,
    /// Set by SIGTERM/SIGINT: the drain begins.
    pub stop: Arc<AtomicBool>,
    /// Set by the drain (`TW_SLOW_DRAIN_MS` after `stop`): stop accepting.
    pub closing: AtomicBool,
    /// Connections accepted and not yet answered; the drain waits for zero.
    pub in_flight: AtomicUsize,
    /// How `GET /health` answers.
    pub health: health::Health,
    /// Memory leaked by `GET /leak`.
    pub leak: leak::Leak,
    /// Cleared by `GET /watchdog/stop`: no more `WATCHDOG=1`.
    pub heartbeats: AtomicBool,
}

/// The environment variable `name` parsed as a number; `None` if unset or bad.
fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// Whether the switch `name` is set to `1`.
fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

fn main() {
    let pid = std::process::id();
    if let Ok(code) = std::env::var("TW_EXIT_AT_START") {
        eprintln!("test-worker exiting at start code={code} pid={pid}");
        std::process::exit(code.trim().parse().unwrap_or(1));
    }

    let listeners = match listen::take() {
        Ok(listeners) => listeners,
        Err(msg) => {
            eprintln!("test-worker: {msg}");
            std::process::exit(2);
        }
    };

    // Before SIGTERM is set to be ignored, since a child would inherit that.
    let child_pid = env_flag("TW_SPAWN_CHILD").then(spawn_child).flatten();
    let orphan_pid = env_flag("TW_ORPHAN").then(spawn_orphan).flatten();

    let health_mode = std::env::var("TW_HEALTH").unwrap_or_else(|_| "pass".to_owned());
    let Some(health_mode) = health::Mode::parse(&health_mode) else {
        eprintln!("test-worker: TW_HEALTH={health_mode} is not pass, fail or hang");
        std::process::exit(2);
    };

    let stop = Arc::new(AtomicBool::new(false));
    install_signals(&stop);

    let notifier = Notifier::from_env();
    let worker = Arc::new(Worker {
        pid,
        instance: std::env::var("CORRAL_INSTANCE").unwrap_or_default(),
        child_pid,
        orphan_pid,
        notify_fd: notifier.as_ref().map(Notifier::fd),
        stop,
        closing: AtomicBool::new(false),
        in_flight: AtomicUsize::new(0),
        health: health::Health::new(health_mode),
        leak: leak::Leak::default(),
        heartbeats: AtomicBool::new(true),
    });
    let notifier = notifier.map(Arc::new);

    println!("test-worker started pid={pid} instance={}", worker.instance);
    eprintln!("test-worker stderr line pid={pid}");
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    emit::start(&worker);

    let mut acceptors = Vec::new();
    for inherited in listeners {
        let worker = Arc::clone(&worker);
        let name = format!("accept-{}", inherited.name);
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || server::accept_loop(inherited.listener, worker))
            .expect("spawn accept thread");
        acceptors.push(thread);
    }

    if let Some(notifier) = &notifier {
        notify::start_heartbeats(notifier, &worker);
        if !env_flag("TW_NO_READY") {
            let notifier = Arc::clone(notifier);
            let delay = env_number("TW_READY_DELAY_MS").unwrap_or(0);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(delay));
                notifier.send("READY=1\nSTATUS=serving");
            });
        }
    }

    if let Some(ms) = env_number::<u64>("TW_EXIT_AFTER_MS") {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(ms));
            eprintln!("test-worker exiting after {ms}ms pid={pid}");
            std::process::exit(1);
        });
    }

    while !worker.stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20));
    }

    // Graceful drain: the accept loops see the flag within one poll interval
    // and close their sockets; then wait for the requests already accepted.
    if let Some(notifier) = &notifier {
        notifier.send("STOPPING=1");
    }
    if let Some(ms) = env_number::<u64>("TW_SLOW_DRAIN_MS") {
        println!("test-worker draining slowly ms={ms} pid={pid}");
        let _ = std::io::stdout().flush();
        std::thread::sleep(Duration::from_millis(ms));
    }
    worker.closing.store(true, Ordering::SeqCst);
    for thread in acceptors {
        let _ = thread.join();
    }
    while worker.in_flight.load(Ordering::SeqCst) > 0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("test-worker draining done pid={pid}");
    let _ = std::io::stdout().flush();
    std::process::exit(0);
}

/// SIGTERM and SIGINT set the stop flag, or with `TW_IGNORE_TERM=1` SIGTERM is
/// ignored outright, to test the supervisor's escalation to SIGKILL.
fn install_signals(stop: &Arc<AtomicBool>) {
    if env_flag("TW_IGNORE_TERM") {
        // SAFETY: setting a signal's disposition to SIG_IGN is always sound.
        unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
    } else {
        signal_hook::flag::register(libc::SIGTERM, Arc::clone(stop)).expect("register SIGTERM");
    }
    signal_hook::flag::register(libc::SIGINT, Arc::clone(stop)).expect("register SIGINT");
}

/// Starts `sleep 1000` in our own process group (no setsid), so tests can check
/// that the supervisor stops a worker's whole tree. A thread reaps it, so it
/// never lingers as our zombie.
fn spawn_child() -> Option<u32> {
    let spawned = Command::new("sleep")
        .arg("1000")
        .stdin(Stdio::null())
        .spawn();
    match spawned {
        Ok(mut child) => {
            let child_pid = child.id();
            std::thread::spawn(move || child.wait());
            Some(child_pid)
        }
        Err(e) => {
            eprintln!("test-worker: cannot spawn child: {e}");
            None
        }
    }
}

/// Starts `sleep 0.3` in the background of a shell that exits at once: the
/// sleep is orphaned, reparented to the nearest subreaper (the supervisor),
/// and must be reaped there when it exits. Returns its pid.
fn spawn_orphan() -> Option<u32> {
    let output = Command::new("sh")
        .args(["-c", "sleep 0.3 >/dev/null 2>&1 & echo $!"])
        .stdin(Stdio::null())
        .output();
    match output {
        Ok(out) => String::from_utf8_lossy(&out.stdout).trim().parse().ok(),
        Err(e) => {
            eprintln!("test-worker: cannot start the orphan: {e}");
            None
        }
    }
}
