//! The test worker's misbehaviours, checked before tests rely on them: its
//! leak grows the PSS the supervisor measures, a spike raises it for a
//! moment and gives it back, its health answer switches at
//! run time on its private socket, its heartbeats stop on request, it can
//! die before it was ever ready, it can keep serving through a slow
//! drain, and it prints numbered lines in a burst or access-log lines at a
//! steady rate. Under the real supervisor where that is what matters (the private
//! health socket), and otherwise started directly with a socket and a notify
//! socket of the test's own, so the check does not depend on what the
//! supervisor does with heartbeats or readiness.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::helper::{Corral, get, get_json, pass_as_fd3, pss, test_worker};

#[test]
fn leaked_memory_grows_the_workers_pss() {
    let mut corral = Corral::start(
        r#"
        [[apps]]
        name = "leaky"
        command = "{worker}"
        listen = ["127.0.0.1:0"]
        "#,
    );
    let pid = corral.wait_online()[0];
    let addr = corral.listen_addr();
    let before = pss(pid);
    assert_eq!(get_json(addr, "/leak?mb=64")["leaked_mb"], 64);
    let grown = pss(pid) - before;
    assert!(grown >= 60 << 20, "PSS grew by {grown} bytes only");
    assert_eq!(get_json(addr, "/leak?mb=16")["leaked_mb"], 80);
    assert_eq!(get(addr, "/leak?mb=lots").expect("answer").0, 400);
}

#[test]
fn a_spike_raises_the_pss_for_a_moment_then_returns_the_memory() {
    let mut corral = Corral::start(
        r#"
        [[apps]]
        name = "spiky"
        command = "{worker}"
        listen = ["127.0.0.1:0"]
        "#,
    );
    let pid = corral.wait_online()[0];
    let addr = corral.listen_addr();
    let before = pss(pid);
    let spike = std::thread::spawn(move || get_json(addr, "/spike?mb=64&ms=300"));
    let mut peak = 0;
    while !spike.is_finished() {
        peak = peak.max(pss(pid));
        std::thread::sleep(Duration::from_millis(5));
    }
    let answer = spike.join().expect("spike");
    assert_eq!(
        (&answer["spiked_mb"], &answer["held_ms"]),
        (&64.into(), &300.into())
    );
    assert!(
        peak >= before + (60 << 20),
        "PSS peaked at {peak} bytes only"
    );
    let after = pss(pid);
    assert!(
        after < before + (4 << 20),
        "{after} bytes kept after the spike"
    );
    assert_eq!(get(addr, "/spike?mb=64").expect("answer").0, 400);
}

/// Sends `GET path` and returns the status, or `None` if nothing came back
/// within `wait` while the connection stayed open.
fn status_within(addr: SocketAddr, path: &str, wait: Duration) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(wait)).expect("read timeout");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").expect("send");
    let mut head = [0; 12];
    match stream.read_exact(&mut head) {
        Ok(()) => Some(
            String::from_utf8_lossy(&head[9..12])
                .parse()
                .expect("status"),
        ),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
        Err(e) => panic!("GET {path}: the connection failed instead of hanging: {e}"),
    }
}

#[test]
fn the_health_answer_switches_at_run_time_on_the_private_socket() {
    let mut corral = Corral::start(
        r#"
        [[apps]]
        name = "sick"
        command = "{worker}"
        listen = ["127.0.0.1:0"]
        [apps.env]
        TW_HEALTH = "fail"
        "#,
    );
    corral.wait_online();
    let spawned = corral.events("worker spawned");
    let health: SocketAddr = spawned[0]["health_addr"]
        .as_str()
        .expect("health_addr")
        .parse()
        .expect("address");
    let shared = corral.listen_addr();
    let wait = Duration::from_secs(5);
    assert_eq!(status_within(health, "/health", wait), Some(500));
    assert_eq!(get_json(shared, "/health/set?mode=pass")["health"], "pass");
    assert_eq!(status_within(health, "/health", wait), Some(200));
    assert_eq!(
        get(shared, "/health/set?mode=sideways").expect("answer").0,
        400
    );
    assert_eq!(get_json(shared, "/health/set?mode=hang")["health"], "hang");
    assert_eq!(
        status_within(health, "/health", Duration::from_millis(500)),
        None
    );
    assert_eq!(
        status_within(shared, "/", wait),
        Some(200),
        "only /health hangs"
    );
}

/// A test worker started by the test itself: one listening socket (`http`)
/// and a notify socket the test reads. Killed on drop.
struct Direct {
    child: Child,
    addr: SocketAddr,
    notify: UnixDatagram,
    stdout: BufReader<ChildStdout>,
    _dir: tempfile::TempDir,
}

impl Direct {
    fn start(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let notify_path = dir.path().join("notify");
        let notify = UnixDatagram::bind(&notify_path).expect("bind notify socket");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let fd = listener.as_raw_fd();
        // `$$` is the shell's pid, which the worker keeps when exec'd.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "LISTEN_PID=$$ exec \"$0\"", test_worker()])
            .env("LISTEN_FDS", "1")
            .env("LISTEN_FDNAMES", "http")
            .env("NOTIFY_SOCKET", &notify_path)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        pass_as_fd3(&mut cmd, fd);
        let mut child = cmd.spawn().expect("spawn the test worker");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        // Into the test's captured output, shown when it fails.
        let stderr = BufReader::new(child.stderr.take().expect("piped"));
        std::thread::spawn(move || {
            stderr
                .lines()
                .map_while(Result::ok)
                .for_each(|l| eprintln!("{l}"))
        });
        let direct = Self {
            child,
            addr,
            notify,
            stdout,
            _dir: dir,
        };
        // Our copy of the socket closes now: once the worker closes its
        // own, connections are refused.
        drop(listener);
        direct
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// The next notify message, or `None` if none comes within `wait`.
    fn message_within(&self, wait: Duration) -> Option<String> {
        self.notify
            .set_read_timeout(Some(wait))
            .expect("read timeout");
        let mut buf = [0; 512];
        let n = self.notify.recv(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Waits for a line of standard output that starts with `prefix`.
    fn wait_line(&mut self, prefix: &str) {
        let mut line = String::new();
        while !line.starts_with(prefix) {
            line.clear();
            let n = self.stdout.read_line(&mut line).expect("stdout");
            assert!(n > 0, "the worker exited before printing {prefix:?}");
        }
    }

    /// The next line of standard output, without its newline.
    fn next_line(&mut self) -> String {
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line).expect("stdout");
        assert!(n > 0, "the worker's stdout closed");
        line.truncate(line.trim_end_matches('\n').len());
        line
    }
}

impl Drop for Direct {
    fn drop(&mut self) {
        let _ = kill(self.pid(), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

#[test]
fn heartbeats_stop_on_request() {
    let worker = Direct::start(&[("WATCHDOG_USEC", "100000")]);
    let beats: Vec<_> = (0..3)
        .map(|_| worker.message_within(Duration::from_secs(5)))
        .collect();
    let count = beats.iter().filter(|m| m.as_deref() == Some("WATCHDOG=1"));
    assert!(count.count() >= 2, "two heartbeats at least: {beats:?}");
    assert_eq!(
        get_json(worker.addr, "/watchdog/stop")["watchdog"],
        "stopped"
    );
    // One heartbeat may have been on its way; none after it, within six
    // periods of 50 ms.
    let late = worker.message_within(Duration::from_millis(300));
    if late.is_some() {
        assert_eq!(worker.message_within(Duration::from_millis(300)), None);
    }
    assert_eq!(get_json(worker.addr, "/")["pid"], worker.pid().as_raw());
}

#[test]
fn a_worker_can_exit_before_it_was_ever_ready() {
    let start = Instant::now();
    let mut worker = Direct::start(&[("TW_NO_READY", "1"), ("TW_EXIT_AFTER_MS", "600")]);
    assert_eq!(get_json(worker.addr, "/")["pid"], worker.pid().as_raw());
    let status = worker.child.wait().expect("wait");
    assert_eq!(status.code(), Some(1));
    assert!(start.elapsed() >= Duration::from_millis(600));
    worker.notify.set_nonblocking(true).expect("non-blocking");
    let mut buf = [0; 512];
    while let Ok(n) = worker.notify.recv(&mut buf) {
        let message = String::from_utf8_lossy(&buf[..n]);
        assert!(!message.contains("READY=1"), "it said {message:?}");
    }
}

#[test]
fn a_slow_drain_keeps_serving_then_closes_the_listener() {
    let mut worker = Direct::start(&[("TW_SLOW_DRAIN_MS", "500")]);
    assert_eq!(
        worker.message_within(Duration::from_secs(5)).as_deref(),
        Some("READY=1\nSTATUS=serving")
    );
    let term = Instant::now();
    kill(worker.pid(), Signal::SIGTERM).expect("SIGTERM");
    worker.wait_line("test-worker draining slowly");
    assert_eq!(get_json(worker.addr, "/")["pid"], worker.pid().as_raw());
    let status = worker.child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    assert!(term.elapsed() >= Duration::from_millis(500));
    let refused = TcpStream::connect(worker.addr).expect_err("the listener is closed");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn printed_lines_come_numbered_in_order_while_the_worker_serves() {
    let mut worker = Direct::start(&[("TW_PRINT_LINES", "20000"), ("CORRAL_INSTANCE", "1")]);
    let pid = worker.pid().as_raw();
    worker.wait_line("test-worker started");
    // Nobody reads stdout yet, so the printing thread is stuck on a full
    // pipe: the worker answers anyway.
    assert_eq!(get_json(worker.addr, "/")["pid"], pid);
    for n in 0..20_000 {
        assert_eq!(worker.next_line(), format!("worker=1 pid={pid} line={n}"));
    }
}

#[test]
fn the_log_rate_is_paced_and_each_line_looks_like_an_access_log() {
    for each in ["0", "1"] {
        let spawned = Instant::now();
        let mut worker = Direct::start(&[
            ("TW_LOG_RATE", "2000"),
            ("TW_LOG_EACH", each),
            ("CORRAL_INSTANCE", "0"),
        ]);
        let pid = worker.pid().as_raw();
        worker.wait_line("test-worker started");
        for seq in 0..=1000 {
            let line = worker.next_line();
            let prefix = format!("access worker=0 pid={pid} seq={seq} ");
            assert!(line.starts_with(&prefix), "{line:?} after seq {seq}");
            assert!(
                (130..=170).contains(&line.len()),
                "{} bytes: {line}",
                line.len()
            );
        }
        // Line 1000 is due 0.5 s after the worker started at 2000 lines/s:
        // a burst would bring it at once.
        let elapsed = spawned.elapsed();
        assert!(
            (Duration::from_millis(500)..Duration::from_secs(5)).contains(&elapsed),
            "TW_LOG_EACH={each}: 1001 lines at 2000/s took {elapsed:?}"
        );
    }
}
