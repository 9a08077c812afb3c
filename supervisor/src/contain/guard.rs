//! `corral guard`: the small process that kills every worker's tree when
//! the supervisor dies, however it dies.
//!
//! The supervisor starts it with the read end of a pipe as stdin and keeps
//! the only write end. The guard records each [`Message`] in a [`Ledger`].
//! End of file means the supervisor is gone: the kernel closes the write
//! end even when the supervisor is SIGKILLed. The guard then kills every
//! protected worker's cgroup and process group, removes corral's cgroups
//! (killing anything still in them) and exits.
//!
//! It holds nothing of the supervisor's but that pipe (every other fd is
//! closed first, so a listening socket can never outlive the workers
//! through it), runs in its own process group (so Ctrl-C at a terminal
//! does not reach it) and ignores the signals that stop, reload or nudge
//! the supervisor.

use std::io::{self, BufRead as _};
use std::process::ExitCode;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::cgroup;
use super::protocol::{Ledger, Message};
use crate::unix;

/// Signals that stop, reload or nudge the supervisor, sent to it alone or
/// to every `corral` process, which the guard must survive.
const IGNORED: [Signal; 9] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGTSTP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
];

/// How long the guard waits for a killed cgroup to empty before removing it.
const EMPTY_BOUND: Duration = Duration::from_secs(5);

/// Runs the guard until the supervisor is gone; the hidden `corral guard`.
pub fn run() -> ExitCode {
    // `ps` shows "exe" otherwise, since the guard runs /proc/self/exe.
    let _ = nix::sys::prctl::set_name(c"corral-guard");
    if let Err(err) = unix::close_fds_from(3) {
        tracing::warn!(%err, "guard: cannot close inherited fds");
    }
    if let Err(err) = unix::ignore_signals(&IGNORED) {
        tracing::warn!(%err, "guard: cannot ignore stop signals");
    }
    tracing::debug!(pid = std::process::id(), "guard started");
    let mut ledger = Ledger::default();
    for line in io::stdin().lock().lines() {
        match line.map(|l| Message::decode(&l)) {
            Ok(Ok(message)) => ledger.apply(message),
            Ok(Err(err)) => tracing::warn!(%err, "guard: ignoring a message it cannot read"),
            Err(err) => {
                tracing::error!(%err, "guard: cannot read from the supervisor; acting as if it died");
                break;
            }
        }
    }
    sweep(&ledger);
    ExitCode::SUCCESS
}

/// Kills every protected worker and removes corral's cgroups.
fn sweep(ledger: &Ledger) {
    let count = ledger.groups().count();
    if count > 0 {
        tracing::warn!(
            guard = std::process::id(),
            workers = count,
            "the supervisor is gone: the guard is killing every worker's tree"
        );
    }
    for (pgid, protected) in ledger.groups() {
        if let Some(dir) = &protected.cgroup
            && let Err(err) = cgroup::kill(dir)
        {
            tracing::error!(cgroup = %dir.display(), %err, "guard: cannot kill a worker's cgroup");
        }
        kill_group_if_ours(pgid, protected.start);
    }
    for dir in ledger.dirs() {
        if let Err(err) = cgroup::remove_tree(dir, EMPTY_BOUND) {
            tracing::error!(cgroup = %dir.display(), %err, "guard: cannot remove corral's cgroups");
        }
    }
}

/// SIGKILLs the process group `pgid` unless its id now belongs to someone
/// else. A group's id is the pid of the worker that created it, and the
/// kernel reuses that pid only once the worker is reaped and the whole
/// group is gone; so if a process with that pid exists but started at
/// another time than the worker, the group is not ours any more.
fn kill_group_if_ours(pgid: i32, start: Option<u64>) {
    if let Some(start) = start {
        let now = procfs::process::Process::new(pgid).and_then(|p| p.stat());
        if now.is_ok_and(|stat| stat.starttime != start) {
            tracing::debug!(pgid, "guard: the worker's pid was reused; leaving it alone");
            return;
        }
    }
    unix::kill_group(Pid::from_raw(pgid));
}
