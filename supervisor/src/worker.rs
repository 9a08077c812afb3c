//! One worker process: a handle plus one task.
//!
//! The task owns the process from spawn to reaping. Its `select!` loop
//! watches the exit (from the reaper), sd_notify messages (READY=1 makes the
//! worker online), the readiness deadline, the stop deadline and the control
//! queue, and reports what happens to its app's manager as [`WorkerEvent`]s.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until};
use tokio_util::task::TaskTracker;

use crate::config::AppConfig;
use crate::exec_step::ExecStep;
use crate::logs::AppLogs;
use crate::notify::Notification;
use crate::reaper::{ChildTable, ExitStatus, Spawned};
use crate::{sockets, unix};

/// Identifies one worker process for its whole life, across pid reuse.
pub type WorkerId = u64;

/// What a worker task reports to its app's manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerEvent {
    /// The worker is ready to serve (READY=1, or spawned when `wait_ready`
    /// is off).
    Online,
    /// The worker process is gone and reaped.
    Exited {
        /// How it ended.
        status: ExitStatus,
        /// How long it lived.
        uptime: Duration,
        /// It never became ready within `listen_timeout`.
        failed_start: bool,
    },
}

/// What the manager asks of a worker.
#[derive(Debug, Clone, Copy)]
pub enum WorkerCtl {
    /// Send `signal`, then SIGKILL the process group after `grace`.
    GracefulStop {
        /// The app's `kill_signal`.
        signal: Signal,
        /// The app's `kill_timeout`.
        grace: Duration,
    },
}

/// What every spawn needs besides the app's own config.
#[derive(Clone)]
pub struct Launcher {
    /// Exit routing for spawned processes.
    pub table: ChildTable,
    /// `NOTIFY_SOCKET` as workers see it.
    pub notify_address: String,
    /// The supervisor's environment minus what must never reach a worker.
    pub base_env: Arc<[(OsString, OsString)]>,
    /// Log-capture tasks, awaited at shutdown so no line is lost.
    pub tracker: TaskTracker,
}

/// Variables of the supervisor's own environment that describe the
/// supervisor's relation to systemd and must not leak into workers.
const PRIVATE_ENV: [&str; 6] = [
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
];

/// The environment workers start from: the supervisor's, minus systemd's
/// private variables.
pub fn base_env() -> Arc<[(OsString, OsString)]> {
    std::env::vars_os()
        .filter(|(k, _)| !PRIVATE_ENV.iter().any(|p| k == p))
        .collect()
}

/// The manager's side of a running worker.
pub struct WorkerHandle {
    /// The process id (also its process group id).
    pub pid: Pid,
    /// `CORRAL_INSTANCE` of the worker.
    pub instance: usize,
    ctl: mpsc::UnboundedSender<WorkerCtl>,
}

impl WorkerHandle {
    /// Asks the worker to stop gracefully.
    pub fn stop(&self, signal: Signal, grace: Duration) {
        let _ = self.ctl.send(WorkerCtl::GracefulStop { signal, grace });
    }
}

/// Everything that identifies one spawn.
pub struct SpawnRequest<'a> {
    /// The app's config at the time of the spawn.
    pub app: &'a AppConfig,
    /// The slot it fills.
    pub instance: usize,
    /// Its id.
    pub id: WorkerId,
    /// The app's shared listening sockets, in `listen` order.
    pub listeners: &'a [OwnedFd],
    /// Where its output goes.
    pub logs: &'a AppLogs,
    /// Where its events go.
    pub events: mpsc::UnboundedSender<(WorkerId, WorkerEvent)>,
}

impl Launcher {
    /// Starts a worker process and its task.
    pub fn spawn(&self, req: SpawnRequest<'_>) -> std::io::Result<WorkerHandle> {
        let app = req.app;
        let health = sockets::bind_tcp(SocketAddr::from(([127, 0, 0, 1], 0)), 128)?;
        let health_addr = socket2::SockRef::from(&health)
            .local_addr()?
            .as_socket()
            .ok_or_else(|| std::io::Error::other("health socket has no IP address"))?;
        let mut fds: Vec<_> = req.listeners.iter().map(AsFd::as_fd).collect();
        fds.push(health.as_fd());
        let mut names = vec!["http"; req.listeners.len()];
        names.push("health");

        let containment = self.table.containment();
        let placement = containment.prepare(&format!("{}-{}", app.name, req.instance))?;
        let step = ExecStep {
            fds: fds.iter().map(std::os::fd::AsRawFd::as_raw_fd).collect(),
            parent: std::process::id() as i32,
            user: app.user.clone(),
            group: app.group.clone(),
            cgroup: placement.cgroup().map(Into::into),
            command: std::iter::once(app.command.clone())
                .chain(app.args.iter().cloned())
                .collect(),
        };
        let mut cmd = Command::new("/proc/self/exe");
        cmd.arg0("corral")
            .args(step.to_args())
            .env_clear()
            .envs(self.base_env.iter().map(|(k, v)| (k, v)))
            .envs(&app.env)
            .env("CORRAL_APP", &app.name)
            .env("CORRAL_INSTANCE", req.instance.to_string())
            .env("NOTIFY_SOCKET", &self.notify_address)
            .env("LISTEN_FDS", fds.len().to_string())
            .env("LISTEN_FDNAMES", names.join(":"))
            .current_dir(&app.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let Spawned {
            mut child,
            exit,
            notify,
        } = self.table.spawn(&mut cmd, &fds, placement).map_err(|err| {
            let what = format!(
                "cannot start `{}` in {}: {err}",
                app.command,
                app.cwd.display()
            );
            std::io::Error::new(err.kind(), what)
        })?;
        let pid = Pid::from_raw(child.id() as i32);
        let (out, err) = (
            child.stdout.take().expect("piped"),
            child.stderr.take().expect("piped"),
        );
        let pipes = pipe::Receiver::from_owned_fd(out.into())
            .and_then(|stdout| Ok((stdout, pipe::Receiver::from_owned_fd(err.into())?)));
        // The process runs already: without a task it would be untracked.
        let (stdout, stderr) = pipes.inspect_err(|_| containment.kill_tree(pid))?;
        req.logs
            .capture(&self.tracker, req.instance, stdout, stderr);

        let started = Instant::now();
        let (ctl_tx, ctl) = mpsc::unbounded_channel();
        let task = WorkerTask {
            id: req.id,
            pid,
            started,
            ready_deadline: app.wait_ready.then(|| started + app.listen_timeout),
            events: req.events,
        };
        tracing::info!(app = %app.name, instance = req.instance, pid = pid.as_raw(), %health_addr, "worker spawned");
        tokio::spawn(task.run(exit, notify, ctl));
        Ok(WorkerHandle {
            pid,
            instance: req.instance,
            ctl: ctl_tx,
        })
    }
}

struct WorkerTask {
    id: WorkerId,
    pid: Pid,
    started: Instant,
    ready_deadline: Option<Instant>,
    events: mpsc::UnboundedSender<(WorkerId, WorkerEvent)>,
}

impl WorkerTask {
    async fn run(
        self,
        mut exit: oneshot::Receiver<ExitStatus>,
        mut notify: mpsc::UnboundedReceiver<Notification>,
        mut ctl: mpsc::UnboundedReceiver<WorkerCtl>,
    ) {
        let mut online = self.ready_deadline.is_none();
        if online {
            self.report(WorkerEvent::Online);
        }
        let mut failed_start = false;
        let mut kill_at: Option<Instant> = None;
        loop {
            tokio::select! {
                // The exit first: once reaped, the pid must not be signalled.
                biased;
                status = &mut exit => {
                    let status = status.unwrap_or(ExitStatus::Signal(Signal::SIGKILL));
                    let uptime = self.started.elapsed();
                    self.report(WorkerEvent::Exited { status, uptime, failed_start });
                    return;
                }
                Some(message) = notify.recv() => match message {
                    Notification::Ready if !online => {
                        online = true;
                        self.report(WorkerEvent::Online);
                    }
                    Notification::Status(text) => tracing::debug!(pid = self.pid.as_raw(), status = %text, "worker status"),
                    other => tracing::trace!(pid = self.pid.as_raw(), ?other, "worker notification"),
                },
                _ = sleep_until(self.ready_deadline.unwrap_or(self.started)), if !online && !failed_start => {
                    tracing::warn!(pid = self.pid.as_raw(), "worker not ready within listen_timeout; killing it");
                    failed_start = true;
                    unix::kill_group(self.pid);
                }
                Some(WorkerCtl::GracefulStop { signal, grace }) = ctl.recv() => {
                    unix::signal_process(self.pid, signal);
                    kill_at = Some(kill_at.map_or(Instant::now() + grace, |at| at.min(Instant::now() + grace)));
                }
                _ = sleep_until(kill_at.unwrap_or(self.started)), if kill_at.is_some() => {
                    tracing::warn!(pid = self.pid.as_raw(), "worker still running at kill_timeout; killing its process group");
                    unix::kill_group(self.pid);
                    kill_at = None;
                }
            }
        }
    }

    fn report(&self, event: WorkerEvent) {
        let _ = self.events.send((self.id, event));
    }
}
