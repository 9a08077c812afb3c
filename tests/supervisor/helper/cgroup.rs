//! Views for the containment tests: this process's cgroup v2 directory,
//! the processes in a cgroup tree or in a set of process groups, and a
//! throw-away cgroup that kills and removes everything in it when dropped.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// This process's cgroup directory in the mounted v2 hierarchy, if the
/// tests can create cgroups below it (root, writable hierarchy).
pub fn writable_own_cgroup() -> Option<PathBuf> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cgroups.lines().find_map(|l| l.strip_prefix("0::"))?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = mounts.lines().find_map(|line| {
        let (fields, fs) = line.split_once(" - ")?;
        let fields: Vec<&str> = fields.split(' ').collect();
        (fs.starts_with("cgroup2 ") && fields.get(3) == Some(&"/")).then(|| fields[4])
    })?;
    let dir = Path::new(mount).join(path.trim_start_matches('/'));
    let probe = dir.join(format!("corral-probe-{}", std::process::id()));
    std::fs::create_dir(&probe).ok()?;
    std::fs::remove_dir(&probe).ok()?;
    Some(dir)
}

/// Whether corral is expected to use a cgroup per worker here: the tests
/// can create cgroups and systemd is not the service manager (under
/// systemd corral needs a delegated cgroup).
pub fn cgroups_expected() -> bool {
    let expected = writable_own_cgroup().is_some() && !Path::new("/run/systemd/system").exists();
    if !expected {
        eprintln!("skipped: no writable cgroup v2 hierarchy outside systemd here");
    }
    expected
}

/// Every pid in the cgroup `dir` and in the cgroups below it.
pub fn cgroup_members(dir: &Path) -> Vec<i32> {
    let mut pids: Vec<i32> = std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            pids.extend(cgroup_members(&entry.path()));
        }
    }
    pids
}

/// The cgroup v2 path of `pid` (the `0::` line of `/proc/PID/cgroup`).
pub fn cgroup_of(pid: i32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::to_owned)
}

/// A cgroup a test creates (standing in for one systemd delegated).
/// Dropping it kills everything inside and removes it with its children.
pub struct TestCgroup {
    /// Its directory.
    pub dir: PathBuf,
}

impl TestCgroup {
    /// Creates `parent/name`.
    pub fn create(parent: &Path, name: &str) -> Self {
        let dir = parent.join(name);
        std::fs::create_dir(&dir).expect("create a test cgroup");
        Self { dir }
    }

    /// Marks it delegated, as systemd does for a unit with `Delegate=yes`.
    pub fn mark_delegated(&self) {
        let path = CString::new(self.dir.as_os_str().as_bytes()).expect("path without NUL");
        // SAFETY: both strings are NUL-terminated and live across the call;
        // the value pointer and length describe a one-byte buffer.
        let rc = unsafe {
            libc::setxattr(
                path.as_ptr(),
                c"trusted.delegate".as_ptr(),
                b"1".as_ptr().cast(),
                1,
                0,
            )
        };
        assert_eq!(rc, 0, "setxattr: {}", std::io::Error::last_os_error());
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        kill_and_remove(&self.dir);
    }
}

/// Kills every process in the cgroup `dir` and below, then removes them
/// all: cleanup after a test, whatever it left.
pub fn kill_and_remove(dir: &Path) {
    if !dir.exists() {
        return;
    }
    let _ = std::fs::write(dir.join("cgroup.kill"), "1");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cgroup_members(dir).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    remove_tree(dir);
}

fn remove_tree(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&entry.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}
