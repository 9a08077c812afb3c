//! The one owner of SIGCHLD: reaps every child and grandchild and routes
//! worker exits to the task that waits for them.
//!
//! The supervisor is a child subreaper, so orphaned descendants of workers
//! are reparented to it; `waitid(P_ALL)` collects them too. Workers are
//! registered (and protected by [`Containment`]) in the same critical
//! section that spawns them, so an exit can never arrive for a pid the
//! table does not know yet.

use std::collections::HashMap;
use std::io;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};

use nix::sys::signal::Signal;
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid, waitpid};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};

use crate::contain::{Containment, Placement};
use crate::notify::Notification;
use crate::unix;

/// How a worker ended, as an operator reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// `exit(code)`.
    Code(i32),
    /// Killed by a signal.
    Signal(Signal),
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Code(code) => write!(f, "exit code {code}"),
            Self::Signal(sig) => write!(f, "signal {sig}"),
        }
    }
}

/// Where the reaper and the notify listener deliver what concerns one worker.
struct Route {
    exit: oneshot::Sender<ExitStatus>,
    notify: mpsc::UnboundedSender<Notification>,
}

/// The table of live workers by pid, shared by the spawner, the reaper and
/// the notify listener.
#[derive(Clone)]
pub struct ChildTable {
    routes: Arc<Mutex<HashMap<Pid, Route>>>,
    containment: Containment,
}

/// What a freshly spawned worker's task listens to.
pub struct Spawned {
    /// The process, for its pid and stdio pipes; never waited on through std.
    pub child: Child,
    /// Resolves with the worker's exit status once reaped.
    pub exit: oneshot::Receiver<ExitStatus>,
    /// sd_notify messages the worker (or its process group) sent.
    pub notify: mpsc::UnboundedReceiver<Notification>,
}

impl ChildTable {
    /// An empty table whose workers `containment` protects.
    pub fn new(containment: Containment) -> Self {
        Self {
            routes: Arc::default(),
            containment,
        }
    }

    /// What keeps the workers' trees from outliving the supervisor.
    pub fn containment(&self) -> &Containment {
        &self.containment
    }

    /// Spawns `cmd` (whose exec step joins `placement`'s cgroup) and
    /// registers and protects its pid before any exit can be reaped.
    pub fn spawn(
        &self,
        cmd: &mut Command,
        inherit: &[std::os::fd::BorrowedFd<'_>],
        placement: Placement,
    ) -> io::Result<Spawned> {
        let mut routes = self.routes.lock().expect("child table poisoned");
        let child = unix::spawn_inheriting(cmd, inherit)?;
        let (exit_tx, exit) = oneshot::channel();
        let (notify_tx, notify) = mpsc::unbounded_channel();
        let pid = Pid::from_raw(child.id() as i32);
        self.containment.adopt(pid, placement);
        routes.insert(
            pid,
            Route {
                exit: exit_tx,
                notify: notify_tx,
            },
        );
        Ok(Spawned {
            child,
            exit,
            notify,
        })
    }

    /// Delivers a notify message to the worker `pid` belongs to: the worker
    /// itself, or the worker whose process group `pid` is in.
    pub fn route_notification(&self, pid: Pid, message: Notification) -> bool {
        let routes = self.routes.lock().expect("child table poisoned");
        let route = routes.get(&pid).or_else(|| {
            nix::unistd::getpgid(Some(pid))
                .ok()
                .and_then(|pg| routes.get(&pg))
        });
        route.is_some_and(|r| r.notify.send(message).is_ok())
    }

    /// Sends `signal` to the worker `pid` if it has not been reaped yet. The
    /// check and the signal happen under the table's lock, and the reaper
    /// forgets a pid under the same lock before reaping it: so a pid that
    /// the kernel may have given to another process is never signalled.
    pub fn signal(&self, pid: Pid, signal: Signal) {
        let routes = self.routes.lock().expect("child table poisoned");
        if routes.contains_key(&pid) {
            unix::signal_process(pid, signal);
        }
    }

    /// As [`ChildTable::signal`], to the worker's whole process group.
    pub fn signal_group(&self, pid: Pid, signal: Signal) {
        let routes = self.routes.lock().expect("child table poisoned");
        if routes.contains_key(&pid) {
            unix::signal_group(pid, signal);
        }
    }

    /// As [`ChildTable::signal`], SIGKILL to the worker's whole tree.
    pub fn kill_tree(&self, pid: Pid) {
        let routes = self.routes.lock().expect("child table poisoned");
        if routes.contains_key(&pid) {
            self.containment.kill_tree(pid);
        }
    }

    /// Reaps every child that has exited. A worker's exit first kills what
    /// remains of its tree and has the guard forget it (the zombie keeps
    /// its pid and group id from being reused until it is reaped), then is
    /// reported to its task.
    fn reap_all(&self) {
        loop {
            let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
            let status = match waitid(Id::All, flags) {
                Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => return,
                Ok(status) => status,
                Err(err) => {
                    tracing::error!(%err, "waitid failed");
                    return;
                }
            };
            let Some(pid) = status.pid() else { return };
            let route = self
                .routes
                .lock()
                .expect("child table poisoned")
                .remove(&pid);
            if route.is_some() {
                self.containment.kill_tree(pid);
                self.containment.release(pid);
            }
            let reaped = waitpid(pid, Some(WaitPidFlag::WNOHANG));
            let exit = match reaped {
                Ok(WaitStatus::Exited(_, code)) => ExitStatus::Code(code),
                Ok(WaitStatus::Signaled(_, sig, _)) => ExitStatus::Signal(sig),
                other => {
                    // Stop this sweep: the next SIGCHLD starts another, and
                    // looping here could spin on the same child.
                    tracing::error!(pid = pid.as_raw(), ?other, "unexpected wait status");
                    return;
                }
            };
            match route {
                Some(route) => {
                    let _ = route.exit.send(exit);
                }
                None => tracing::debug!(pid = pid.as_raw(), %exit, "reaped a descendant"),
            }
        }
    }
}

/// Runs the reaper until the runtime stops: one sweep per SIGCHLD, plus one
/// at start for children that exited before the handler was installed.
pub fn start(table: ChildTable) -> io::Result<()> {
    let mut sigchld = signal(SignalKind::child())?;
    tokio::spawn(async move {
        loop {
            table.reap_all();
            if sigchld.recv().await.is_none() {
                return;
            }
        }
    });
    Ok(())
}
