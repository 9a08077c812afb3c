//! The supervisor's end of the guard: starting it, telling it what to
//! protect, and replacing it if it dies or stops listening.
//!
//! The supervisor holds the only write end of the guard's pipe, opened
//! close-on-exec so that no worker inherits it. Writes never block: a guard
//! that stops reading (stopped, hung) is killed and replaced, and the new
//! one gets the whole [`Ledger`] again, so a message lost on the way never
//! leaves a worker unprotected or a forgotten pid protected.

use std::fs::File;
use std::io::{self, ErrorKind, Write as _};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::fs::OFlags;
use rustix::process::{Signal, pidfd_send_signal};
use tokio::io::unix::AsyncFd;

use super::protocol::{Ledger, Message};
use crate::unix;

/// How long the watcher waits before trying again to start a guard.
const RESTART_DELAY: Duration = Duration::from_secs(1);

/// One running guard process.
struct Guard {
    pid: i32,
    /// The write end of its stdin.
    pipe: File,
    /// Readable once the guard has exited, whoever reaps it.
    pidfd: Arc<AsyncFd<OwnedFd>>,
}

impl Guard {
    /// Starts `corral guard` and sends it `replay` before anything else.
    fn spawn(replay: &[Message]) -> io::Result<Self> {
        let mut child = Command::new("/proc/self/exe")
            .arg0("corral")
            .arg(crate::cli::internal::GUARD)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()?;
        let pid = child.id() as i32;
        let pipe = File::from(OwnedFd::from(child.stdin.take().expect("piped")));
        // The reaper runs on this thread, so it cannot have reaped the
        // guard yet: the pid is still the guard's.
        let pidfd = unix::pidfd(nix::unistd::Pid::from_raw(pid))?;
        let mut guard = Self {
            pid,
            pidfd: Arc::new(pidfd),
            pipe,
        };
        // The replay blocks: a fresh pipe may hold less than the backlog.
        let ready = replay
            .iter()
            .try_for_each(|m| guard.pipe.write_all(&m.encode()?))
            .and_then(|()| Ok(rustix::fs::fcntl_setfl(&guard.pipe, OFlags::NONBLOCK)?));
        match ready {
            Ok(()) => Ok(guard),
            Err(err) => {
                // With half a ledger it would kill only some workers.
                guard.kill();
                Err(err)
            }
        }
    }

    /// SIGKILLs the guard before its pipe is closed: on end of file it
    /// would kill every worker it knows.
    fn kill(&self) {
        let _ = pidfd_send_signal(self.pidfd.get_ref(), Signal::KILL);
    }

    /// Writes one message without blocking. A line no longer than
    /// PIPE_BUF is written whole or not at all.
    fn send(&mut self, line: &[u8]) -> io::Result<()> {
        let written = self.pipe.write(line)?;
        if written == line.len() {
            Ok(())
        } else {
            Err(io::Error::new(
                ErrorKind::WriteZero,
                "the guard's pipe took only part of a message",
            ))
        }
    }
}

/// The guard as the supervisor sees it, shared by the spawner, the reaper
/// and the watcher task.
pub(super) struct Link {
    guard: Option<Guard>,
    ledger: Ledger,
    closing: bool,
}

impl Link {
    /// Starts the first guard.
    pub(super) fn start() -> io::Result<Self> {
        Ok(Self {
            guard: Some(Guard::spawn(&[])?),
            ledger: Ledger::default(),
            closing: false,
        })
    }

    /// What the supervisor told the guard so far.
    pub(super) fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The guard's pid, while one runs.
    pub(super) fn guard_pid(&self) -> Option<i32> {
        self.guard.as_ref().map(|g| g.pid)
    }

    /// Records `message` and passes it to the guard; a guard that cannot
    /// take it is replaced.
    pub(super) fn send(&mut self, message: Message) {
        let line = message.encode();
        self.ledger.apply(message);
        if self.closing {
            return;
        }
        let result = match (&mut self.guard, line) {
            (Some(guard), Ok(line)) => guard.send(&line),
            (None, _) => Err(io::Error::other("no guard is running")),
            (_, Err(err)) => Err(err),
        };
        if let Err(err) = result {
            tracing::error!(%err, "the guard cannot take a message; starting a new one");
            self.restart();
        }
    }

    /// Replaces the guard with a new one that knows the whole ledger.
    fn restart(&mut self) {
        if let Some(old) = self.guard.take() {
            old.kill();
        }
        match Guard::spawn(&self.ledger.replay()) {
            Ok(guard) => {
                tracing::warn!(
                    guard = guard.pid,
                    "a new guard process protects the workers"
                );
                self.guard = Some(guard);
            }
            Err(err) => tracing::error!(
                %err,
                "cannot start a guard process: workers are not killed if the supervisor dies; retrying"
            ),
        }
    }

    /// Closes the pipe, which tells the guard to finish and exit, and
    /// returns what becomes readable once it has.
    pub(super) fn close(&mut self) -> Option<Arc<AsyncFd<OwnedFd>>> {
        self.closing = true;
        self.guard.take().map(|guard| guard.pidfd)
    }
}

/// Replaces the guard whenever it dies, until the link is closed.
pub(super) async fn watch(link: Arc<Mutex<Link>>) {
    let lock = || link.lock().expect("guard link poisoned");
    loop {
        let current = {
            let mut link = lock();
            if link.closing {
                return;
            }
            if link.guard.is_none() {
                link.restart();
            }
            link.guard.as_ref().map(|g| (g.pid, Arc::clone(&g.pidfd)))
        };
        let Some((pid, pidfd)) = current else {
            tokio::time::sleep(RESTART_DELAY).await;
            continue;
        };
        let _ = pidfd.readable().await;
        let mut link = lock();
        if !link.closing && link.guard_pid() == Some(pid) {
            tracing::error!(guard = pid, "the guard process died; starting a new one");
            link.restart();
        }
    }
}
