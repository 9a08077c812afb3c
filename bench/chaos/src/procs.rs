//! Processes as the kernel sees them, through `/proc`: the connections a
//! worker holds at the moment it is killed, its open files, a process's
//! memory, and whether any process of a tree is still there.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use procfs::process::{FDTarget, Process};

/// Freezes `pid` with `SIGSTOP`, lists the client ports of the connections
/// it holds on `port` (local side), then kills it with `SIGKILL`; returns
/// the ports and the moment just before the `SIGKILL`, or `None` if the
/// worker exited on its own first: its exit raced the choice of it, or the
/// supervisor was draining it and its `SIGCONT` undid the `SIGSTOP` (its
/// connections are then not counted as killed ones, so a failure on them
/// shows as unexplained).
///
/// A stopped process accepts nothing, so the list is exactly the
/// connections that die with it; the pause between the two signals is the
/// time of one walk of its fd table.
pub fn kill_and_list_peers(
    pid: i32,
    port: u16,
) -> anyhow::Result<Option<(BTreeSet<u16>, Instant)>> {
    let target = Pid::from_raw(pid);
    match kill(target, Signal::SIGSTOP) {
        Err(Errno::ESRCH) => return Ok(None),
        other => other.with_context(|| format!("SIGSTOP to worker {pid}"))?,
    }
    if !wait_stopped(pid) {
        return Ok(None);
    }
    let peers = peers_on(pid, port)?;
    let at = Instant::now();
    match kill(target, Signal::SIGKILL) {
        Err(Errno::ESRCH) => Ok(None),
        other => {
            other.with_context(|| format!("SIGKILL to worker {pid}"))?;
            Ok(Some((peers, at)))
        }
    }
}

/// Waits (briefly) until every thread of `pid` has stopped; `false` if it
/// is exiting or gone instead (a zombie takes signals but holds nothing).
fn wait_stopped(pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        let Ok(tasks) = Process::new(pid).and_then(|p| p.tasks()) else {
            return false;
        };
        let states: Vec<char> = tasks
            .flatten()
            .filter_map(|task| task.stat().ok())
            .map(|stat| stat.state)
            .collect();
        if states.is_empty() || states.iter().any(|s| matches!(s, 'Z' | 'X')) {
            return false;
        }
        if states.iter().all(|s| matches!(s, 'T' | 't')) {
            return true;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    true
}

/// The remote ports of the TCP connections `pid` holds whose local port is
/// `port`.
fn peers_on(pid: i32, port: u16) -> anyhow::Result<BTreeSet<u16>> {
    let process = Process::new(pid).with_context(|| format!("worker {pid} in /proc"))?;
    let inodes: BTreeSet<u64> = process
        .fd()
        .with_context(|| format!("the fds of worker {pid}"))?
        .flatten()
        .filter_map(|fd| match fd.target {
            FDTarget::Socket(inode) => Some(inode),
            _ => None,
        })
        .collect();
    let mut table = procfs::net::tcp().context("reading /proc/net/tcp")?;
    table.extend(procfs::net::tcp6().unwrap_or_default());
    Ok(table
        .into_iter()
        .filter(|entry| inodes.contains(&entry.inode) && entry.local_address.port() == port)
        .map(|entry| entry.remote_address.port())
        .collect())
}

/// What each open fd of `pid` refers to, numbered: a path, or a kind and an
/// inode (`socket:[123]`, `pipe:[456]`), so that an fd two processes share
/// shows as the same text in both.
pub fn fd_targets(pid: i32) -> anyhow::Result<Vec<(i32, String)>> {
    let process = Process::new(pid).with_context(|| format!("process {pid} in /proc"))?;
    let mut fds: Vec<_> = process
        .fd()
        .with_context(|| format!("the fds of process {pid}"))?
        .flatten()
        .map(|fd| {
            let target = match fd.target {
                FDTarget::Path(path) => path.display().to_string(),
                FDTarget::Socket(inode) => format!("socket:[{inode}]"),
                FDTarget::Net(inode) => format!("net:[{inode}]"),
                FDTarget::Pipe(inode) => format!("pipe:[{inode}]"),
                FDTarget::AnonInode(kind) => {
                    format!("anon_inode:{}", kind.trim_matches(['[', ']']))
                }
                FDTarget::MemFD(name) => format!("memfd:{name}"),
                FDTarget::Other(kind, inode) => format!("{kind}:[{inode}]"),
                FDTarget::Unknown(kind, data) => format!("{kind}:{data}"),
            };
            (fd.fd, target)
        })
        .collect();
    fds.sort();
    Ok(fds)
}

/// How many fds `pid` holds at rest: the fewest of ten looks 50 ms apart,
/// so that a connection open for a moment (a health probe, a CLI call) is
/// not counted.
pub fn fd_count(pid: i32) -> anyhow::Result<usize> {
    let process = Process::new(pid).with_context(|| format!("process {pid} in /proc"))?;
    let mut fewest = usize::MAX;
    for _ in 0..10 {
        let count = process
            .fd_count()
            .with_context(|| format!("the fds of process {pid}"))?;
        fewest = fewest.min(count);
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(fewest)
}

/// The resident set size of `pid`, in bytes.
pub fn rss_bytes(pid: i32) -> anyhow::Result<u64> {
    let status = Process::new(pid)
        .and_then(|p| p.status())
        .with_context(|| format!("/proc/{pid}/status"))?;
    Ok(status.vmrss.unwrap_or_default() * 1024)
}

/// `pid` and every process below it (children of each of its threads,
/// their children, ...).
pub fn tree(pid: i32) -> Vec<i32> {
    let mut found = vec![pid];
    let mut next = 0;
    while next < found.len() {
        let parent = found[next];
        next += 1;
        let tasks = std::fs::read_dir(format!("/proc/{parent}/task"));
        for task in tasks.into_iter().flatten().flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            found.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<i32>().ok()),
            );
        }
    }
    found
}

/// The state letter of `pid` (`R`, `S`, `T`, `Z`, ...), or `None` once it
/// is gone from `/proc` altogether.
pub fn state(pid: i32) -> Option<char> {
    Process::new(pid)
        .and_then(|p| p.stat())
        .ok()
        .map(|s| s.state)
}

/// The zombies among the descendants of `pid`: children that died and were
/// never reaped.
pub fn zombies_under(pid: i32) -> Vec<i32> {
    tree(pid)
        .into_iter()
        .filter(|&p| p != pid && state(p) == Some('Z'))
        .collect()
}

/// The processes among `pids` still in `/proc` after up to `within`,
/// zombies included: a zombie is a process nobody reaped.
pub fn survivors(pids: &[i32], within: Duration) -> Vec<(i32, char)> {
    let deadline = Instant::now() + within;
    loop {
        let left: Vec<_> = pids
            .iter()
            .filter_map(|&pid| state(pid).map(|s| (pid, s)))
            .collect();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
