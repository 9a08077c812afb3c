//! The Unix specifics of running a worker: fd hand-off, process groups,
//! parent-death signal, privilege drop and signalling.
//!
//! Everything that touches raw file descriptors or runs between `fork` and
//! `exec` lives here, so the safety arguments sit next to the code they
//! justify. The supervisor itself never allocates between `fork` and `exec`:
//! the child only clears `FD_CLOEXEC` on the fds it must inherit (one
//! async-signal-safe `fcntl` each) and execs `corral exec-step`, a fresh
//! single-threaded process that does the rest with ordinary code.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::{Gid, Group, Pid, Uid, User, getppid, setgid, setgroups, setuid};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Makes this process adopt orphaned descendants of its workers, so that a
/// worker's grandchildren are reaped by us instead of lingering as zombies
/// under init.
pub fn become_subreaper() -> io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)
}

/// Spawns `cmd` so that exactly `inherit` (besides stdio) survive the exec.
///
/// Every fd the supervisor opens is close-on-exec; the fds to pass on are
/// made inheritable only inside the child, so a concurrent spawn never leaks
/// another worker's sockets.
pub fn spawn_inheriting(cmd: &mut Command, inherit: &[BorrowedFd<'_>]) -> io::Result<Child> {
    let raw: Vec<RawFd> = inherit.iter().map(AsRawFd::as_raw_fd).collect();
    // SAFETY: the closure runs in the forked child of a possibly
    // multi-threaded parent, where only async-signal-safe calls are allowed.
    // It performs two `fcntl` calls per fd (async-signal-safe per POSIX),
    // reads a Vec allocated before the fork, and neither allocates nor takes
    // locks.
    unsafe {
        cmd.pre_exec(move || {
            for &fd in &raw {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd.process_group(0).spawn()
}

/// Sends `signal` to one process; a process that is already gone is not an
/// error, since the exit is reported through the reaper anyway.
pub fn signal_process(pid: Pid, signal: Signal) {
    match kill(pid, signal) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(err) => tracing::warn!(pid = pid.as_raw(), %signal, %err, "cannot signal worker"),
    }
}

/// Sends SIGKILL to a worker's whole process group, so that children it
/// forked die with it.
pub fn kill_group(pgid: Pid) {
    signal_group(pgid, Signal::SIGKILL);
}

/// Sends `signal` to a whole process group; a group that is already gone
/// is not an error.
pub fn signal_group(pgid: Pid, signal: Signal) {
    match killpg(pgid, signal) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(err) => {
            tracing::warn!(pgid = pgid.as_raw(), %signal, %err, "cannot signal process group")
        }
    }
}

/// Marks every fd from 3 up close-on-exec except `keep`, so that fds the
/// supervisor inherited from whoever started it never reach a worker.
pub fn cloexec_all_except(keep: &[RawFd]) -> io::Result<()> {
    for fd in open_fds()? {
        if fd > 2 && !keep.contains(&fd) {
            match set_cloexec(fd, true) {
                // The fd that listed /proc/self/fd is already closed.
                Err(err) if err.raw_os_error() == Some(libc::EBADF) => {}
                other => other?,
            }
        }
    }
    Ok(())
}

fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on an fd number only reads or changes its flags; an fd
    // that closed meanwhile yields EBADF, which is reported.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let mut flags = FdFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFD)?);
    flags.set(FdFlag::FD_CLOEXEC, on);
    fcntl(fd, FcntlArg::F_SETFD(flags))?;
    Ok(())
}

fn open_fds() -> io::Result<Vec<RawFd>> {
    let mut fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    Ok(fds)
}

/// Moves the inherited fds `sources` to 3, 4, ... in order, puts `keep`
/// (the exec step's status pipe) right after them, close-on-exec, and
/// closes every other fd above stderr, as sd_listen_fds(3) requires.
/// Returns where `keep` now is. Runs in the single-threaded exec step.
pub fn arrange_listen_fds(sources: &[RawFd], keep: Option<RawFd>) -> io::Result<Option<RawFd>> {
    let all: Vec<RawFd> = sources.iter().copied().chain(keep).collect();
    let above = all.iter().copied().max().unwrap_or(2).max(2) + all.len() as RawFd + 1;
    let mut temps = Vec::with_capacity(all.len());
    for &src in &all {
        // Duplicate above every source and target first, so that placing
        // fd i never overwrites a source still to be moved.
        // SAFETY: F_DUPFD_CLOEXEC creates a new fd and touches no memory.
        let tmp = unsafe { libc::fcntl(src, libc::F_DUPFD_CLOEXEC, above) };
        if tmp < 0 {
            return Err(io::Error::last_os_error());
        }
        temps.push(tmp);
    }
    for (i, &tmp) in temps.iter().enumerate() {
        // SAFETY: dup2 onto a small fd number this process owns; the new fd
        // is inheritable (dup2 clears FD_CLOEXEC), as a socket must be.
        if unsafe { libc::dup2(tmp, 3 + i as RawFd) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let kept = keep.map(|_| 3 + sources.len() as RawFd);
    if let Some(fd) = kept {
        set_cloexec(fd, true)?;
    }
    // The exec step owns no fd above those placed here.
    close_fds_from(3 + all.len() as RawFd)?;
    Ok(kept)
}

/// Closes every fd from `first` up. Only for a fresh process that owns no
/// fd in that range (the exec step, the guard): anything there was
/// inherited by accident.
pub fn close_fds_from(first: RawFd) -> io::Result<()> {
    let first = libc::c_uint::try_from(first).map_err(io::Error::other)?;
    // SAFETY: close_range only closes fds, and the caller owns none of
    // them, so no live `OwnedFd` or `File` is invalidated.
    if unsafe { libc::syscall(libc::SYS_close_range, first, libc::c_uint::MAX, 0) } < 0 {
        for fd in open_fds()? {
            if fd >= first as RawFd {
                // SAFETY: as above; closing an fd that is already closed is harmless.
                unsafe { libc::close(fd) };
            }
        }
    }
    Ok(())
}

/// Makes this process ignore `signals`, for the guard, which must outlive
/// whatever signal stops the supervisor.
pub fn ignore_signals(signals: &[Signal]) -> io::Result<()> {
    for &signal in signals {
        // SAFETY: SIG_IGN installs no handler, so no code runs in signal
        // context; changing a disposition is always sound.
        unsafe { nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigIgn) }?;
    }
    Ok(())
}

/// Drops to `user` and/or `group`: supplementary groups, then gid, then uid,
/// then verifies that root cannot be regained.
pub fn drop_privileges(user: Option<&str>, group: Option<&str>) -> io::Result<()> {
    let group = match group {
        Some(name) => Some(
            Group::from_name(name)?
                .ok_or_else(|| io::Error::other(format!("no such group `{name}`")))?,
        ),
        None => None,
    };
    match user {
        Some(name) => {
            let user = User::from_name(name)?
                .ok_or_else(|| io::Error::other(format!("no such user `{name}`")))?;
            let gid = group.map_or(user.gid, |g| g.gid);
            let cname = CString::new(name).map_err(io::Error::other)?;
            nix::unistd::initgroups(&cname, gid)?;
            setgid(gid)?;
            setuid(user.uid)?;
            verify_identity(user.uid, gid)
        }
        None => match group {
            Some(group) => {
                setgroups(&[group.gid])?;
                setgid(group.gid)?;
                verify_identity(Uid::current(), group.gid)
            }
            None => Ok(()),
        },
    }
}

fn verify_identity(uid: Uid, gid: Gid) -> io::Result<()> {
    let ok = Uid::current() == uid
        && Uid::effective() == uid
        && Gid::current() == gid
        && Gid::effective() == gid
        && (uid.is_root() || setuid(Uid::from_raw(0)).is_err());
    if ok {
        Ok(())
    } else {
        Err(io::Error::other("privilege drop did not take effect"))
    }
}

/// Asks the kernel to SIGKILL this process when the supervisor dies, then
/// checks the supervisor did not die before the request took effect.
///
/// Set after the privilege drop, because changing credentials clears it.
pub fn die_with_parent(expected_parent: Pid) -> io::Result<()> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
    if getppid() != expected_parent {
        return Err(io::Error::other(
            "the supervisor exited before the worker started",
        ));
    }
    Ok(())
}

/// A pidfd for the child `pid`, registered with the runtime: it becomes
/// readable when the child exits, whoever reaps it, and signals sent
/// through it can never reach a process that reused the pid.
///
/// `pid` must be an unreaped child of ours (so it cannot have been reused).
pub fn pidfd(pid: Pid) -> io::Result<AsyncFd<OwnedFd>> {
    let raw = rustix::process::Pid::from_raw(pid.as_raw())
        .ok_or_else(|| io::Error::other("a pid must be positive"))?;
    let fd = rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty())?;
    // SAFETY: an `OwnedFd` is open for as long as it lives and always
    // returns the same fd number, and the `AsyncFd` owns it from now on.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(|err| err.into())
}

/// Raises this process's soft limit on open files to its hard limit, as
/// most servers do at start: the workers inherit it, and a shell's soft
/// limit (commonly 1024) runs out at about a thousand connections per
/// worker, where `accept` then fails in a loop. Under systemd,
/// `LimitNOFILE=` usually set both already and nothing changes. Says what
/// it did at debug level; a refusal is only a warning, since the
/// supervisor still works with the limit it has.
pub fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let (soft, hard) = (shown(limit.current), shown(limit.maximum));
    let Some(raised) = soft_raised_to_hard(&limit) else {
        tracing::debug!(
            soft,
            hard,
            "the open-file limit is already at its hard limit"
        );
        return;
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => tracing::debug!(
            from = soft,
            to = hard,
            "raised the soft open-file limit (RLIMIT_NOFILE) to the hard limit; workers inherit it"
        ),
        Err(err) => tracing::warn!(
            %err,
            soft,
            hard,
            "cannot raise the soft open-file limit to the hard limit; workers keep the soft one"
        ),
    }
}

/// A limit as a log shows it (`None` is no limit).
fn shown(limit: Option<u64>) -> String {
    limit.map_or_else(|| "unlimited".into(), |n| n.to_string())
}

/// `limit` with its soft value raised to the hard one, or `None` when
/// there is nothing to raise (`None` in a limit means unlimited).
fn soft_raised_to_hard(limit: &rustix::process::Rlimit) -> Option<rustix::process::Rlimit> {
    let below = match (limit.current, limit.maximum) {
        (Some(soft), Some(hard)) => soft < hard,
        (Some(_), None) => true,
        (None, _) => false,
    };
    below.then_some(rustix::process::Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    })
}

#[cfg(test)]
mod fd_limit_tests {
    use rustix::process::Rlimit;

    use super::soft_raised_to_hard;

    fn limit(current: Option<u64>, maximum: Option<u64>) -> Rlimit {
        Rlimit { current, maximum }
    }

    #[test]
    fn the_soft_limit_rises_to_the_hard_one_never_down() {
        let raised = soft_raised_to_hard(&limit(Some(1024), Some(524_288))).unwrap();
        assert_eq!(
            (raised.current, raised.maximum),
            (Some(524_288), Some(524_288))
        );
        let unlimited = soft_raised_to_hard(&limit(Some(1024), None)).unwrap();
        assert_eq!((unlimited.current, unlimited.maximum), (None, None));
        assert!(soft_raised_to_hard(&limit(Some(4096), Some(4096))).is_none());
        assert!(soft_raised_to_hard(&limit(None, None)).is_none());
    }
}
