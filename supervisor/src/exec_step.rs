//! The exec step: `corral exec-step ... -- COMMAND ARGS`, run as the first
//! program of every worker process.
//!
//! The supervisor is multi-threaded, and between `fork` and `exec` it may not
//! allocate or call `setenv`. Yet the socket-activation protocol needs
//! `LISTEN_PID` to be the worker's own pid, known only after the fork. So the
//! child execs this small step of the supervisor's own binary, which (single
//! threaded, with ordinary code) joins the worker's cgroup, pins it to its
//! CPU (`pin_cpus`), moves the
//! sockets to fd 3.., closes every other fd, drops privileges, sets the
//! parent-death signal, sets `LISTEN_PID` (and `WATCHDOG_PID`) and execs the
//! real command in the same pid. If a step fails, it writes why to a status
//! pipe whose other end the supervisor reads: the operator sees "cannot run
//! `x`: No such file or directory" in the supervisor's log, not only an exit
//! code 127.

use std::io::{self, Write as _};
use std::os::fd::{FromRawFd as _, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use nix::unistd::{Pid, getpid};

use crate::{contain, unix};

/// What the supervisor tells the exec step: its command line after
/// `corral exec-step` (parsed by `cli::internal`, never by the operator's CLI).
#[derive(Debug, Clone, clap::Args)]
pub struct ExecStep {
    /// Inherited fds, in the order they must appear from fd 3 up.
    #[arg(long, value_delimiter = ',')]
    pub fds: Vec<RawFd>,
    /// Where to write why the step failed (closed, empty, by a successful
    /// exec), so the supervisor can name the cause.
    #[arg(long)]
    pub status_fd: Option<RawFd>,
    /// The supervisor's pid: the worker must die with it.
    #[arg(long)]
    pub parent: i32,
    /// User to drop to.
    #[arg(long)]
    pub user: Option<String>,
    /// Group to drop to.
    #[arg(long)]
    pub group: Option<String>,
    /// The worker's cgroup, joined first so that all it forks is inside.
    #[arg(long)]
    pub cgroup: Option<PathBuf>,
    /// The one CPU the worker runs on (`pin_cpus`); set before the exec so
    /// every thread the worker starts inherits it.
    #[arg(long)]
    pub cpu: Option<usize>,
    /// The worker's command and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

impl ExecStep {
    /// The argument list that makes `corral` run this step; the inverse of
    /// parsing, kept next to the definition so the two cannot drift.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            crate::cli::internal::EXEC_STEP.to_owned(),
            "--parent".to_owned(),
            self.parent.to_string(),
        ];
        if !self.fds.is_empty() {
            let fds: Vec<String> = self.fds.iter().map(ToString::to_string).collect();
            args.extend(["--fds".to_owned(), fds.join(",")]);
        }
        if let Some(fd) = self.status_fd {
            args.extend(["--status-fd".to_owned(), fd.to_string()]);
        }
        if let Some(user) = &self.user {
            args.extend(["--user".to_owned(), user.clone()]);
        }
        if let Some(group) = &self.group {
            args.extend(["--group".to_owned(), group.clone()]);
        }
        if let Some(cgroup) = &self.cgroup {
            args.extend(["--cgroup".to_owned(), cgroup.display().to_string()]);
        }
        if let Some(cpu) = self.cpu {
            args.extend(["--cpu".to_owned(), cpu.to_string()]);
        }
        args.push("--".to_owned());
        args.extend(self.command.iter().cloned());
        args
    }

    /// Prepares this process and replaces it with the worker's command.
    /// Returns only on failure, with the step that failed, after telling
    /// the supervisor through the status fd.
    pub fn exec(self) -> io::Error {
        let mut status = self.status_fd;
        let err = self.prepare_and_exec(&mut status);
        if let Some(fd) = status {
            // SAFETY: the supervisor handed this fd over for this message
            // alone; nothing else in this process uses it.
            let mut pipe = unsafe { std::fs::File::from_raw_fd(fd) };
            let _ = writeln!(pipe, "{err}");
        }
        err
    }

    fn prepare_and_exec(&self, status: &mut Option<RawFd>) -> io::Error {
        let step =
            |during: &str, err: io::Error| io::Error::new(err.kind(), format!("{during}: {err}"));
        // The cgroup first, while still privileged enough to move in, and
        // before the command can fork anything.
        if let Some(dir) = &self.cgroup
            && let Err(err) = contain::cgroup::join(dir)
        {
            return step(&format!("cannot join the cgroup {}", dir.display()), err);
        }
        if let Some(cpu) = self.cpu
            && let Err(err) = pin(cpu)
        {
            return step(&format!("cannot pin the worker to CPU {cpu}"), err);
        }
        // Then privileges: the user and group lookups may open files, and
        // arranging the fds afterwards closes anything they left open.
        if let Err(err) = unix::drop_privileges(self.user.as_deref(), self.group.as_deref()) {
            return step("cannot drop privileges", err);
        }
        match unix::arrange_listen_fds(&self.fds, *status) {
            Ok(moved) => *status = moved,
            Err(err) => return step("cannot pass the listening sockets", err),
        }
        if let Err(err) = unix::die_with_parent(Pid::from_raw(self.parent)) {
            return step("cannot tie the worker to the supervisor", err);
        }
        let (program, args) = self.command.split_first().expect("clap requires a command");
        let mut cmd = Command::new(program);
        cmd.args(args);
        if !self.fds.is_empty() {
            cmd.env("LISTEN_PID", getpid().to_string());
        }
        if std::env::var_os("WATCHDOG_USEC").is_some() {
            cmd.env("WATCHDOG_PID", getpid().to_string());
        }
        let err = cmd.exec();
        step(&format!("cannot run `{program}`"), err)
    }
}

/// Keeps this process (and so the worker it becomes) on `cpu` alone.
fn pin(cpu: usize) -> io::Result<()> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu).map_err(io::Error::from)?;
    nix::sched::sched_setaffinity(Pid::from_raw(0), &set).map_err(io::Error::from)
}
