//! Memory and CPU of each worker's whole process tree, read from /proc.
//!
//! A worker is often more than one process: gunicorn, uWSGI and Node's
//! cluster fork their servers, and a limit on the first process alone would
//! miss what they use. So a worker's tree is its cgroup's processes when it
//! has a cgroup of its own; otherwise the worker, every process whose
//! parent chain leads to it, and every process still in its process group
//! (the worker's pid) with their own descendants. The last rule catches
//! grandchildren whose parent died: the supervisor is a subreaper, so they
//! are reparented to it, but they keep the worker's process group.
//!
//! Memory is PSS (`/proc/PID/smaps_rollup`): pages shared by forked
//! workers count once over the tree, split among the sharers, where RSS
//! would count them once per process. Reading another user's smaps_rollup
//! takes ptrace access, which the supervisor has as root or as the worker's
//! own user; where it is refused, that process counts its RSS (from statm)
//! instead, an overestimate rather than nothing. CPU is user plus system
//! time, each process's own plus that of its children it has waited for, so
//! the sum does not drop when a member reaps a short-lived child.
//!
//! [`sample`] is blocking (it reads files under /proc, and smaps_rollup
//! walks page tables): the supervisor runs it with `spawn_blocking`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use nix::unistd::Pid;
use procfs::process::{Process, all_processes};

/// What one worker's process tree uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Proportional set size in bytes, summed over the tree.
    pub pss: u64,
    /// CPU time used so far (user + system), summed over the tree.
    pub cpu: Duration,
    /// How many live processes the tree has.
    pub processes: u32,
}

/// One worker to measure.
#[derive(Debug, Clone)]
pub struct Root {
    /// The worker's pid, which is also its process group id.
    pub pid: Pid,
    /// Every process of the worker's cgroup, when it has one of its own
    /// (`cgroup.procs`); `None` to find the tree from /proc.
    pub members: Option<Vec<Pid>>,
}

/// What one scan of /proc learns about one live process.
struct Entry {
    parent: Pid,
    group: Pid,
    /// Clock ticks: own and waited-for children's, user and system.
    ticks: u64,
}

/// Measures every root in one scan of /proc. A root that is gone (or a
/// zombie) is absent from the result; processes that vanish mid-scan are
/// skipped; a process is counted for the first root whose tree holds it.
/// Blocking: see the module doc.
pub fn sample(roots: &[Root]) -> HashMap<Pid, Usage> {
    let table = scan();
    let mut children: HashMap<Pid, Vec<Pid>> = HashMap::new();
    let mut groups: HashMap<Pid, Vec<Pid>> = HashMap::new();
    for (&pid, entry) in &table {
        children.entry(entry.parent).or_default().push(pid);
        groups.entry(entry.group).or_default().push(pid);
    }
    let mut claimed = HashSet::new();
    let mut usages = HashMap::new();
    for root in roots.iter().filter(|r| table.contains_key(&r.pid)) {
        let members = match &root.members {
            Some(members) => std::iter::once(root.pid)
                .chain(members.iter().copied())
                .filter(|pid| table.contains_key(pid))
                .collect(),
            None => tree(root.pid, &children, &groups),
        };
        let (mut usage, mut ticks) = (Usage::default(), 0);
        for pid in members.into_iter().filter(|pid| claimed.insert(*pid)) {
            let Some(pss) = memory(pid) else { continue };
            usage.pss += pss;
            ticks += table[&pid].ticks;
            usage.processes += 1;
        }
        usage.cpu = cpu_time(ticks);
        usages.insert(root.pid, usage);
    }
    usages
}

/// Every live process by pid. Zombies are left out: they use no memory and
/// serve nothing.
fn scan() -> HashMap<Pid, Entry> {
    let Ok(processes) = all_processes() else {
        tracing::error!("cannot list /proc; no memory or CPU can be measured");
        return HashMap::new();
    };
    processes
        .filter_map(|process| process.ok()?.stat().ok())
        .filter(|stat| stat.state != 'Z')
        .map(|stat| {
            let children = (stat.cutime.max(0) + stat.cstime.max(0)) as u64;
            let entry = Entry {
                parent: Pid::from_raw(stat.ppid),
                group: Pid::from_raw(stat.pgrp),
                ticks: stat.utime + stat.stime + children,
            };
            (Pid::from_raw(stat.pid), entry)
        })
        .collect()
}

/// The root, the processes in its process group, and all their
/// descendants, from the scan's parent and group indexes.
fn tree(root: Pid, children: &HashMap<Pid, Vec<Pid>>, groups: &HashMap<Pid, Vec<Pid>>) -> Vec<Pid> {
    let mut members = vec![root];
    members.extend(groups.get(&root).into_iter().flatten().copied());
    let mut seen: HashSet<Pid> = members.iter().copied().collect();
    let mut next = 0;
    while let Some(&pid) = members.get(next) {
        next += 1;
        for &child in children.get(&pid).into_iter().flatten() {
            if seen.insert(child) {
                members.push(child);
            }
        }
    }
    members
}

/// Clock ticks as a duration, without overflow for any realistic count.
fn cpu_time(ticks: u64) -> Duration {
    let per_second = procfs::ticks_per_second();
    let fraction = (ticks % per_second) * 1_000_000_000 / per_second;
    Duration::from_secs(ticks / per_second) + Duration::from_nanos(fraction)
}

/// The process's PSS in bytes, or its RSS where smaps_rollup is not
/// readable; `None` when it is gone.
fn memory(pid: Pid) -> Option<u64> {
    let process = Process::new(pid.as_raw()).ok()?;
    match process.smaps_rollup() {
        Ok(rollup) => Some(
            rollup
                .memory_map_rollup
                .0
                .iter()
                .filter_map(|map| map.extension.map.get("Pss"))
                .sum(),
        ),
        Err(_) => Some(process.statm().ok()?.resident * procfs::page_size()),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::CommandExt as _;
    use std::process::{Child, Command, Stdio};

    use nix::sys::signal::{Signal, kill, killpg};

    use super::*;

    fn root(pid: Pid) -> Root {
        Root { pid, members: None }
    }

    /// A shell in its own process group with three sleeps: a child, an
    /// orphan left in the group by a subshell, and a child in a session of
    /// its own. Killed, with all of them, on drop.
    struct Family {
        shell: Child,
        sleeps: Vec<Pid>,
    }

    impl Family {
        fn start() -> Self {
            let script = "sleep 30 >/dev/null & echo $!; \
                          (sleep 30 >/dev/null & echo $!); \
                          setsid sleep 30 >/dev/null & echo $!; \
                          wait";
            let shell = Command::new("sh")
                .args(["-c", script])
                .process_group(0)
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn sh");
            // Owned from here, so a failure below still cleans up.
            let mut family = Self {
                shell,
                sleeps: Vec::new(),
            };
            let stdout = family.shell.stdout.take().expect("piped");
            for line in BufReader::new(stdout).lines().take(3) {
                let pid = line.expect("pid line").parse().expect("pid");
                family.sleeps.push(Pid::from_raw(pid));
            }
            family
        }

        fn pid(&self) -> Pid {
            Pid::from_raw(self.shell.id() as i32)
        }
    }

    impl Drop for Family {
        fn drop(&mut self) {
            let _ = killpg(self.pid(), Signal::SIGKILL);
            for &pid in &self.sleeps {
                let _ = kill(pid, Signal::SIGKILL);
            }
            let _ = self.shell.wait();
        }
    }

    #[test]
    fn this_process_has_memory_and_cpu_that_only_grows() {
        let first = sample(&[root(Pid::this())])[&Pid::this()];
        assert!(first.pss > 0, "{first:?}");
        assert!(first.processes >= 1, "{first:?}");
        let busy = std::time::Instant::now();
        while busy.elapsed() < Duration::from_millis(50) {
            std::hint::black_box(busy.elapsed());
        }
        let second = sample(&[root(Pid::this())])[&Pid::this()];
        assert!(second.cpu >= first.cpu, "{first:?} then {second:?}");
    }

    #[test]
    fn touched_memory_shows_in_the_pss() {
        const MIB: usize = 1 << 20;
        let before = sample(&[root(Pid::this())])[&Pid::this()].pss;
        let block = std::hint::black_box(vec![1u8; 64 * MIB]);
        let after = sample(&[root(Pid::this())])[&Pid::this()].pss;
        drop(block);
        assert!(after >= before + 48 * MIB as u64, "{before} then {after}");
    }

    #[test]
    fn a_tree_holds_children_orphans_of_the_group_and_new_sessions() {
        let family = Family::start();
        let usage = sample(&[root(family.pid())])[&family.pid()];
        assert_eq!(usage.processes, 4, "sh and its three sleeps: {usage:?}");
        assert!(usage.pss > 0, "{usage:?}");
    }

    #[test]
    fn a_cgroup_list_replaces_the_search() {
        let family = Family::start();
        let members = Some(vec![family.sleeps[0]]);
        let roots = [Root {
            pid: family.pid(),
            members,
        }];
        let usage = sample(&roots)[&family.pid()];
        assert_eq!(usage.processes, 2, "the root and its one listed member");
    }

    #[test]
    fn a_root_that_is_gone_is_absent() {
        let mut child = Command::new("true").spawn().expect("spawn true");
        let pid = Pid::from_raw(child.id() as i32);
        child.wait().expect("wait");
        let usages = sample(&[root(pid), root(Pid::this())]);
        assert!(!usages.contains_key(&pid));
        assert!(usages.contains_key(&Pid::this()));
    }
}
