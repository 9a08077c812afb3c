//! `LISTEN_FDS` that does not hand over a listening TCP socket: the real
//! worker names the fd and what it is in one sentence and exits 1, without
//! a panic and without closing an fd that is not its to close.

use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Output, Stdio};

use super::worker::app_command;
use std::time::{Duration, Instant};

/// How long the worker may take to open its database and refuse.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `app` in `dir` with `LISTEN_FDS=1` (named `http`) and `fd` as its
/// fd 3, or no fd 3 at all when `fd` is `None`; returns what it did.
fn run_with_fd3(dir: &Path, fd: Option<RawFd>) -> Output {
    let mut command = app_command(dir, 1, "http");
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: between fork and exec the closure only calls dup2 or close,
    // which are async-signal-safe, on fds of this process, and allocates
    // nothing.
    unsafe {
        command.pre_exec(move || {
            let done = match fd {
                Some(3) => libc::fcntl(3, libc::F_SETFD, 0),
                Some(fd) => libc::dup2(fd, 3),
                None => {
                    libc::close(3);
                    0
                }
            };
            match done {
                -1 => Err(std::io::Error::last_os_error()),
                _ => Ok(()),
            }
        });
    }
    let child = command.spawn().expect("spawn app");
    let pid = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output().expect("wait for app"));
    let began = Instant::now();
    while !waiter.is_finished() {
        if began.elapsed() > REFUSAL_TIMEOUT {
            // SAFETY: kill(2) on our own child, not reaped yet.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            let output = waiter.join().unwrap();
            panic!(
                "the worker did not exit within {REFUSAL_TIMEOUT:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    waiter.join().unwrap()
}

/// Asserts the worker exited 1 naming fd 3 (`http`) and saying `why`,
/// and did not panic.
#[track_caller]
fn assert_refused(output: &Output, why: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("inherited fd 3 (http) is "), "{stderr}");
    assert!(stderr.contains(why), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_regular_file_as_fd_3_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(dir.path().join("not-a-socket")).unwrap();
    let output = run_with_fd3(dir.path(), Some(file.as_raw_fd()));
    assert_refused(&output, "is a regular file, not a socket");
}

#[test]
fn a_udp_socket_as_fd_3_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let output = run_with_fd3(dir.path(), Some(udp.as_raw_fd()));
    assert_refused(&output, "is a UDP socket, not a TCP one");
}

#[test]
fn a_tcp_socket_that_does_not_listen_as_fd_3_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let output = run_with_fd3(dir.path(), Some(client.as_raw_fd()));
    assert_refused(&output, "is a TCP socket that is not listening");
}

/// With no fd 3 handed over, the first fd the worker opens itself (its
/// runtime's) gets number 3; it must be left alone, not taken and closed.
#[test]
fn a_count_beyond_the_fds_handed_over_is_refused_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_with_fd3(dir.path(), None);
    assert_refused(&output, "not a socket");
}
