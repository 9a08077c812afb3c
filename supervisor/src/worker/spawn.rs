//! Starting one worker process: its fds, environment and exec step.

use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::sync::Arc;

use nix::fcntl::OFlag;
use nix::unistd::Pid;
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

use super::{Launcher, WorkerHandle, task};
use crate::config::AppConfig;
use crate::cpus;
use crate::exec_step::ExecStep;
use crate::lifecycle::{Event, WorkerId};
use crate::logs::{AppLogs, Pipe};
use crate::reaper::Spawned;
use crate::sockets;

/// Everything that identifies one spawn.
pub struct SpawnRequest<'a> {
    /// The app's config for this worker.
    pub app: &'a AppConfig,
    /// The slot it fills.
    pub instance: usize,
    /// How many slots the app has now (`corral scale` included), so a
    /// worker knows its share of the connections.
    pub instances: usize,
    /// Its id.
    pub id: WorkerId,
    /// The app's shared listening sockets, in `listen` order.
    pub listeners: &'a [Arc<OwnedFd>],
    /// Where its output goes.
    pub logs: &'a AppLogs,
    /// Where its events go.
    pub events: mpsc::UnboundedSender<Event>,
}

impl Launcher {
    /// Starts a worker process and its task. An error means no process
    /// runs; its message names the command and the OS error.
    pub fn spawn(&self, req: SpawnRequest<'_>) -> std::io::Result<WorkerHandle> {
        let app = req.app;
        let health = sockets::bind_tcp(SocketAddr::from(([127, 0, 0, 1], 0)), 128)?;
        let health_addr = socket2::SockRef::from(&health)
            .local_addr()?
            .as_socket()
            .ok_or_else(|| std::io::Error::other("health socket has no IP address"))?;
        // The exec step writes why it failed here; a successful exec closes
        // it (close-on-exec) with nothing written.
        let (status_read, status_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        let mut fds: Vec<_> = req.listeners.iter().map(|fd| fd.as_fd()).collect();
        fds.push(health.as_fd());
        let mut names = vec!["http"; req.listeners.len()];
        names.push("health");

        let allowed = if app.pin_cpus {
            cpus::allowed()
        } else {
            Vec::new()
        };
        let pinned = cpus::for_slot(req.instance, &allowed);
        let placement = self
            .table
            .containment()
            .prepare(&format!("{}-{}", app.name, req.instance))?;
        let step = ExecStep {
            fds: fds.iter().map(AsRawFd::as_raw_fd).collect(),
            status_fd: Some(status_write.as_raw_fd()),
            parent: std::process::id() as i32,
            user: app.user.clone(),
            group: app.group.clone(),
            cgroup: placement.cgroup().map(Into::into),
            cpu: pinned,
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
            .env("CORRAL_INSTANCES", req.instances.to_string())
            .env("NOTIFY_SOCKET", &self.notify_address)
            .env("LISTEN_FDS", fds.len().to_string())
            .env("LISTEN_FDNAMES", names.join(":"))
            .current_dir(&app.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if pinned.is_some() {
            // Threads the worker does not want on its one CPU may use these.
            cmd.env("CORRAL_CPUS", cpus::kernel_list(&allowed));
        }
        if let Some(period) = app.watchdog {
            cmd.env("WATCHDOG_USEC", period.as_micros().to_string());
        }
        let mut inherit = fds.clone();
        inherit.push(status_write.as_fd());
        let Spawned {
            mut child,
            exit,
            notify,
        } = self
            .table
            .spawn(&mut cmd, &inherit, placement)
            .map_err(|err| {
                let what = format!(
                    "cannot start `{}` in {}: {err}",
                    app.command,
                    app.cwd.display()
                );
                std::io::Error::new(err.kind(), what)
            })?;
        drop(status_write);
        let pid = Pid::from_raw(child.id() as i32);
        let (out, err) = (
            child.stdout.take().expect("piped"),
            child.stderr.take().expect("piped"),
        );
        let pipes = Pipe::new(out.into())
            .and_then(|stdout| Ok((stdout, Pipe::new(err.into())?)))
            .and_then(|(stdout, stderr)| {
                Ok((stdout, stderr, pipe::Receiver::from_owned_fd(status_read)?))
            });
        // The process runs already: without its task it would be untracked.
        let (stdout, stderr, status) = pipes.inspect_err(|_| self.table.kill_tree(pid))?;
        req.logs
            .capture(&self.tracker, req.instance, pid, stdout, stderr);
        tokio::spawn(task::run(req.id, exit, notify, status, req.events));
        Ok(WorkerHandle {
            pid,
            instance: req.instance,
            health_addr,
            table: self.table.clone(),
        })
    }
}
