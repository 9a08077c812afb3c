//! The real `app` binary as corral starts it: a listening socket handed
//! over as fd 3 (`LISTEN_FDS=1`, `LISTEN_FDNAMES=http`, `LISTEN_PID` set by
//! the shell that then execs the app in the same pid) and a
//! `NOTIFY_SOCKET` the test reads `READY=1` and `STOPPING=1` from.

use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a worker may take to migrate and become ready (a debug build,
/// a cold SQLite file, a loaded CI machine).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The app as corral starts it, without its fds yet: `sh` sets
/// `LISTEN_PID` to its own pid and execs the app in it, in `dir` on
/// `dir/app.db`, told of `count` inherited sockets named `names`; no
/// notify socket, no Redis.
pub fn app_command(dir: &Path, count: usize, names: &str) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("LISTEN_PID=$$ exec \"$0\"")
        .arg(env!("CARGO_BIN_EXE_app"))
        .current_dir(dir)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("app.db").display()),
        )
        .env("LISTEN_FDS", count.to_string())
        .env("LISTEN_FDNAMES", names)
        .env_remove("LISTEN_PID")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("REDIS_URL");
    command
}

/// A running worker; killed (SIGKILL) and reaped on drop.
pub struct Worker {
    child: Child,
    notify: UnixDatagram,
    /// Where clients connect: the handed-over socket's address.
    pub addr: SocketAddr,
}

impl Worker {
    /// Starts `app` in `dir` on `listener` (which the test keeps too, as
    /// the other workers sharing the queue would) with `DATABASE_URL`
    /// pointing at `dir/app.db`, and waits for `READY=1`.
    pub fn start(dir: &Path, listener: &TcpListener, name: &str) -> Worker {
        Self::start_with(dir, &[(listener, "http")], name, &[])
    }

    /// Like [`Worker::start`], with every socket of `sockets` handed over
    /// (fds 3, 4, ... named as given; the first is where clients connect)
    /// and `env` added.
    pub fn start_with(
        dir: &Path,
        sockets: &[(&TcpListener, &str)],
        name: &str,
        env: &[(&str, &str)],
    ) -> Worker {
        let notify_path: PathBuf = dir.join(format!("{name}.notify"));
        let notify = UnixDatagram::bind(&notify_path).expect("bind the notify socket");
        let mut fds = [-1 as RawFd; 4];
        assert!(sockets.len() <= fds.len(), "at most four sockets");
        for (slot, (listener, _)) in fds.iter_mut().zip(sockets) {
            *slot = listener.as_raw_fd();
        }
        let count = sockets.len();
        let names: Vec<&str> = sockets.iter().map(|(_, name)| *name).collect();
        let mut command = app_command(dir, count, &names.join(":"));
        command
            .env("NOTIFY_SOCKET", &notify_path)
            .env("APP_DRAIN_TIMEOUT", "10s")
            .env("APP_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join(format!("{name}.log"))).unwrap());
        // SAFETY: between fork and exec the closure only calls fcntl, dup2
        // and close, which are async-signal-safe, and allocates nothing.
        // Each socket is first copied above the target range, so placing
        // one at 3 + i never overwrites another still to be placed.
        unsafe {
            command.pre_exec(move || {
                let mut high = [-1 as RawFd; 4];
                for (copy, fd) in high.iter_mut().zip(&fds[..count]) {
                    *copy = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 100);
                    if *copy < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                for (target, copy) in (3..).zip(&high[..count]) {
                    // dup2 leaves the new fd without FD_CLOEXEC: inherited.
                    if libc::dup2(*copy, target) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    libc::close(*copy);
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("spawn app");
        let mut worker = Worker {
            child,
            notify,
            addr: sockets[0].0.local_addr().unwrap(),
        };
        worker.await_notify("READY=1", READY_TIMEOUT);
        worker
    }

    /// The pid (the shell exec'd the app, so it is the app's).
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `signal` to the worker.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid, which is not reaped yet.
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0);
    }

    /// Waits for a notify datagram with the line `line`; panics if the
    /// worker exits or the time runs out first.
    pub fn await_notify(&mut self, line: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {line} from the worker within {timeout:?}"
            );
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the worker exited with {status} before {line}");
            }
            let slice = left.min(Duration::from_millis(200));
            self.notify.set_read_timeout(Some(slice)).unwrap();
            match self.notify.recv(&mut buf) {
                Ok(n) => {
                    let message = String::from_utf8_lossy(&buf[..n]);
                    if message.lines().any(|l| l == line) {
                        return;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("notify socket: {e}"),
            }
        }
    }

    /// Waits for the worker to exit, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the worker did not exit within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh listening socket on loopback for the test to hand over.
pub fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
}
