//! What corral makes of what it inherits from whoever starts it: a low
//! soft open-file limit (a shell's 1024) is raised to the hard limit for
//! itself and its workers, so idle connections cannot starve real clients,
//! and `LISTEN_FDS` that passes something other than a listening TCP
//! socket is refused by name before any worker runs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::helper::{Corral, corral_bin, pass_as_fd3};

/// The soft limit the test starts corral with: low, and below any hard
/// limit a test machine has.
const LOW_SOFT: u64 = 256;

/// `(soft, hard)` of "Max open files" in `/proc/<pid>/limits`.
fn open_file_limits(pid: i32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("read limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

/// Starts `cmd` with its soft open-file limit at `soft` (below `hard`).
fn with_soft_limit(cmd: &mut Command, soft: u64, hard: u64) {
    // SAFETY: between fork and exec, only setrlimit(2), which is
    // async-signal-safe, on a struct built before the fork.
    unsafe {
        cmd.pre_exec(move || {
            let low = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            match libc::setrlimit(libc::RLIMIT_NOFILE, &low) {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        });
    }
}

#[test]
fn workers_inherit_the_soft_open_file_limit_raised_to_the_hard_one() {
    let (_, hard) = open_file_limits(std::process::id() as i32);
    if hard <= LOW_SOFT {
        eprintln!("skipped: the hard open-file limit ({hard}) leaves nothing to raise");
        return;
    }
    let mut corral = Corral::start_with(
        r#"
        [[apps]]
        name = "api"
        command = "{worker}"
        instances = 2
        listen = ["127.0.0.1:0"]
        wait_ready = true
        "#,
        |cmd| with_soft_limit(cmd, LOW_SOFT, hard),
    );
    let workers = corral.wait_online();
    let raised = corral.events(
        "raised the soft open-file limit (RLIMIT_NOFILE) to the hard limit; workers inherit it",
    );
    assert_eq!(raised.len(), 1, "said once, at debug level");
    assert_eq!(raised[0]["level"], "DEBUG", "{}", raised[0]);
    assert_eq!(raised[0]["from"], LOW_SOFT.to_string());
    assert_eq!(raised[0]["to"], hard.to_string());
    assert_eq!(open_file_limits(corral.pid().as_raw()), (hard, hard));
    assert_eq!(workers.len(), 2);
    for pid in workers {
        assert_eq!(open_file_limits(pid), (hard, hard), "worker {pid}");
    }
}

/// How many idle connections the next test holds: more than a shell's
/// soft limit of 1024 lets one worker hold.
const IDLE: usize = 1500;

/// The measurement of #10: under a shell's limit, about a thousand idle
/// connections made the app's worker fail to accept, and a real client
/// waited until idle ones were closed.
#[test]
fn the_app_under_a_shell_limit_serves_a_client_beside_1500_idle_connections() {
    let (_, hard) = open_file_limits(std::process::id() as i32);
    if hard < 4 * IDLE as u64 {
        eprintln!("skipped: the hard open-file limit ({hard}) is below what the test needs");
        return;
    }
    let mut corral = Corral::start_with(
        r#"
        [[apps]]
        name = "api"
        command = "{app}"
        listen = ["127.0.0.1:0"]
        wait_ready = true
        listen_timeout = "20s"
        [apps.env]
        DATABASE_URL = "sqlite://data/app.db"
        APP_ACCESS_LOG = "off"
        "#,
        |cmd| with_soft_limit(cmd, 1024, hard),
    );
    let worker = corral.wait_online()[0];
    let addr = corral.listen_addr();
    let idle: Vec<TcpStream> = (0..IDLE)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    // Until the worker holds them all (it cannot, held to 1024), for a while.
    let fds = || std::fs::read_dir(format!("/proc/{worker}/fd")).map_or(0, Iterator::count);
    let began = Instant::now();
    while fds() < IDLE && began.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut client = TcpStream::connect(addr).expect("connect the real client");
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    client
        .write_all(b"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let read = client.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        read.is_ok() && answer.starts_with("HTTP/1.1 200 "),
        "the real client was not served within 2 s beside {IDLE} idle connections \
         (the worker holds {} fds): {read:?} {answer}",
        fds()
    );
    drop(idle);
}

/// Runs `corral run` as systemd would hand it `fd` (named `http`) as its
/// only socket, and returns what it said once it exited.
fn refusal_with_passed(fd: RawFd) -> String {
    let mut shell = Command::new("sh");
    shell
        .arg("-c")
        .arg("LISTEN_PID=$$ exec \"$0\" run ecosystem.toml")
        .arg(corral_bin());
    let mut corral = Corral::start_command(
        r#"
        [[apps]]
        name = "api"
        command = "{worker}"
        listen = ["127.0.0.1:0"]
        "#,
        &mut shell,
        |cmd| {
            cmd.env("LISTEN_FDS", "1").env("LISTEN_FDNAMES", "http");
            pass_as_fd3(cmd, fd);
        },
    );
    let status = corral.wait_exit(Duration::from_secs(20));
    let said = corral.plain_lines().join("\n");
    assert_eq!(status.code(), Some(1), "corral ran on a bad fd: {said}");
    assert!(corral.events("worker online").is_empty(), "{said}");
    assert!(!said.contains("panicked"), "{said}");
    said
}

#[test]
fn a_passed_fd_that_is_not_a_listening_tcp_socket_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(dir.path().join("not-a-socket")).unwrap();
    let said = refusal_with_passed(file.as_raw_fd());
    assert!(
        said.contains("fd 3 (http) is a regular file, not a socket"),
        "{said}"
    );

    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let said = refusal_with_passed(udp.as_raw_fd());
    assert!(
        said.contains("fd 3 (http) is a UDP socket, not a TCP one"),
        "{said}"
    );

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let said = refusal_with_passed(client.as_raw_fd());
    assert!(
        said.contains("fd 3 (http) is a TCP socket that is not listening"),
        "{said}"
    );
}
