//! `GET /info`: what the process inherited from the supervisor (fds,
//! environment, ids, process group), so tests can check the start protocol
//! from the worker's side.

use std::fmt::Write as _;
use std::os::fd::RawFd;

use crate::{Worker, json};

/// The `/info` body. Besides the fields the tests assert on, it reports
/// `request_fd` (the connection this answer goes out on) and `notify_fd` (our
/// own sd_notify socket), the two fds in `fds` the worker opened itself.
pub fn body(worker: &Worker, request_fd: RawFd) -> String {
    // SAFETY: these calls take no arguments and cannot fail.
    let (ppid, pgid, uid, gid) = unsafe {
        (
            libc::getppid(),
            libc::getpgrp(),
            libc::getuid(),
            libc::getgid(),
        )
    };
    let fds = open_fds();
    let fd_list: Vec<String> = fds.iter().map(|(fd, _)| fd.to_string()).collect();
    let mut targets = String::new();
    for (i, (fd, target)) in fds.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(targets, "{sep}\"{fd}\":{}", json::string(target));
    }
    let mut out = String::from("{");
    let _ = write!(
        out,
        "\"pid\":{},\"ppid\":{ppid},\"pgid\":{pgid}",
        worker.pid
    );
    let _ = write!(out, ",\"uid\":{uid},\"gid\":{gid}");
    for (key, var) in [
        ("listen_pid", "LISTEN_PID"),
        ("listen_fds", "LISTEN_FDS"),
        ("listen_fdnames", "LISTEN_FDNAMES"),
        ("corral_app", "CORRAL_APP"),
        ("corral_instance", "CORRAL_INSTANCE"),
        ("corral_instances", "CORRAL_INSTANCES"),
        ("notify_socket", "NOTIFY_SOCKET"),
        ("watchdog_usec", "WATCHDOG_USEC"),
        ("watchdog_pid", "WATCHDOG_PID"),
        ("env_TW_MARK", "TW_MARK"),
    ] {
        let _ = write!(out, ",\"{key}\":{}", json::env_or_null(var));
    }
    let _ = write!(out, ",\"child_pid\":{}", json::opt_number(worker.child_pid));
    let _ = write!(
        out,
        ",\"orphan_pid\":{}",
        json::opt_number(worker.orphan_pid)
    );
    let _ = write!(out, ",\"groups\":{}", json::string(&supplementary_groups()));
    let _ = write!(out, ",\"fds\":[{}]", fd_list.join(","));
    let _ = write!(out, ",\"fd_targets\":{{{targets}}}");
    let _ = write!(out, ",\"request_fd\":{request_fd}");
    let _ = write!(out, ",\"notify_fd\":{}", json::opt_number(worker.notify_fd));
    out.push('}');
    out
}

/// The `Groups:` line of /proc/self/status: the supplementary group ids.
fn supplementary_groups() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find_map(|l| l.strip_prefix("Groups:"));
    line.unwrap_or_default().trim().to_owned()
}

/// Open fds with their `/proc/self/fd` link targets, sorted. The directory is
/// listed first and closed before any link is read, so the fd that listed it
/// (no longer open by then) fails its readlink and drops out.
fn open_fds() -> Vec<(RawFd, String)> {
    let mut numbers: Vec<RawFd> = match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(e) => {
            eprintln!("test-worker: cannot list /proc/self/fd: {e}");
            Vec::new()
        }
    };
    numbers.sort_unstable();
    numbers
        .into_iter()
        .filter_map(|fd| {
            let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
            Some((fd, target.to_string_lossy().into_owned()))
        })
        .collect()
}
