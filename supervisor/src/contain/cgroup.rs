//! Operations on one cgroup v2 directory: create, join, kill, list,
//! wait until empty, remove. Each is a file read or write under
//! `/sys/fs/cgroup`; `cgroup.kill` needs Linux 5.14.

use std::fs::{self, File};
use std::io::{self, ErrorKind};
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};

/// Creates the cgroup `dir`.
pub fn create(dir: &Path) -> io::Result<()> {
    fs::create_dir(dir)
}

/// Moves the calling process into the cgroup `dir`; everything it forks
/// afterwards starts there.
pub fn join(dir: &Path) -> io::Result<()> {
    fs::write(dir.join("cgroup.procs"), std::process::id().to_string())
}

/// Whether the kernel offers `cgroup.kill` in `dir`.
pub fn can_kill(dir: &Path) -> bool {
    dir.join("cgroup.kill").exists()
}

/// SIGKILLs every process in `dir` and its descendants, at once and
/// without any pid that could have been reused. A cgroup already removed
/// is not an error.
pub fn kill(dir: &Path) -> io::Result<()> {
    match fs::write(dir.join("cgroup.kill"), "1") {
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// The pids in `dir` itself (not its descendants).
pub fn procs(dir: &Path) -> io::Result<Vec<i32>> {
    let text = fs::read_to_string(dir.join("cgroup.procs"))?;
    Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

/// Whether `cgroup.events` text says that processes remain.
fn populated(events: &str) -> Option<bool> {
    events
        .lines()
        .find_map(|l| l.strip_prefix("populated "))
        .map(|v| v.trim() == "1")
}

/// Waits until no process is left in `dir` or below, woken by the kernel's
/// notification on `cgroup.events` (POLLPRI). Returns false at `timeout`.
pub fn wait_empty(dir: &Path, timeout: Duration) -> io::Result<bool> {
    let deadline = Instant::now() + timeout;
    let events = match File::open(dir.join("cgroup.events")) {
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(true),
        other => other?,
    };
    let mut buf = [0u8; 256];
    loop {
        let len = events.read_at(&mut buf, 0)?;
        if populated(&String::from_utf8_lossy(&buf[..len])) == Some(false) {
            return Ok(true);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let left = Timespec::try_from(left).map_err(io::Error::other)?;
        let mut fds = [PollFd::new(&events, PollFlags::PRI)];
        match poll(&mut fds, Some(&left)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    }
}

/// Kills everything in `dir`, waits for it to empty and removes it with
/// every cgroup below it. A `dir` already gone is not an error.
pub fn remove_tree(dir: &Path, timeout: Duration) -> io::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    kill(dir)?;
    if !wait_empty(dir, timeout)? {
        return Err(io::Error::new(
            ErrorKind::TimedOut,
            format!("processes remain in {} after {timeout:?}", dir.display()),
        ));
    }
    remove_empty(dir)
}

/// Removes an empty cgroup and its (empty) child cgroups, deepest first.
fn remove_empty(dir: &Path) -> io::Result<()> {
    let children = match fs::read_dir(dir) {
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(()),
        other => other?,
    };
    for child in children {
        let child = child?;
        if child.file_type()?.is_dir() {
            remove_empty(&child.path())?;
        }
    }
    match fs::remove_dir(dir) {
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::populated;

    #[test]
    fn populated_is_read_from_cgroup_events() {
        assert_eq!(populated("populated 1\nfrozen 0\n"), Some(true));
        assert_eq!(populated("populated 0\nfrozen 0\n"), Some(false));
        assert_eq!(populated("frozen 0\n"), None);
    }
}
