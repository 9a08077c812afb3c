//! How many CPUs this supervisor may use, and why: `instances = "max"`
//! follows the CPU affinity and the cgroup's CPU quota, not the host's
//! count, and `corral describe` shows each. With `pin_cpus`, which CPU
//! each worker slot runs on.

use serde::{Deserialize, Serialize};

/// The CPUs as the kernel limits this process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuCount {
    /// What `instances = "max"` resolves to (std's `available_parallelism`,
    /// which takes affinity and quota into account).
    pub usable: usize,
    /// CPUs online on the host.
    pub online: Option<usize>,
    /// CPUs in this process's affinity mask.
    pub affinity: Option<usize>,
    /// The cgroup's CPU quota in CPUs (`cpu.max`), if limited.
    pub quota: Option<f64>,
}

impl CpuCount {
    /// Reads them now.
    pub fn probe() -> Self {
        Self {
            usable: std::thread::available_parallelism().map_or(1, |n| n.get()),
            online: std::fs::read_to_string("/sys/devices/system/cpu/online")
                .ok()
                .map(|list| count_list(&list)),
            affinity: nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
                .ok()
                .map(|set| {
                    (0..nix::sched::CpuSet::count())
                        .filter(|&i| set.is_set(i).unwrap_or(false))
                        .count()
                }),
            quota: quota(),
        }
    }
}

/// The CPUs in this process's affinity mask, in order: the ones a pinned
/// worker may be given. Read at each spawn, so an operator's `taskset -p`
/// on the supervisor applies to the workers started after it.
pub fn allowed() -> Vec<usize> {
    nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).map_or_else(
        |_| Vec::new(),
        |set| {
            (0..nix::sched::CpuSet::count())
                .filter(|&i| set.is_set(i).unwrap_or(false))
                .collect()
        },
    )
}

/// The CPU of worker slot `slot` among `allowed`: slot i on the i-th CPU,
/// wrapping around when there are more slots than CPUs, so that with
/// `instances = "max"` no two workers share a CPU. Slots, not pids, pick
/// the CPU: a replacement (a restart, a reload's new worker) lands where
/// the worker it replaces ran, and a slot's old and new worker share that
/// CPU only while the old one drains. `None` when nothing is allowed.
pub fn for_slot(slot: usize, allowed: &[usize]) -> Option<usize> {
    (!allowed.is_empty()).then(|| allowed[slot % allowed.len()])
}

/// `cpus` (in order) as the kernel writes a CPU list: `0-3,6`. What a
/// pinned worker gets as `CORRAL_CPUS`, the CPUs its other threads may use.
pub fn kernel_list(cpus: &[usize]) -> String {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for &cpu in cpus {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == cpu => *end = cpu,
            _ => ranges.push((cpu, cpu)),
        }
    }
    let part = |&(from, to): &(usize, usize)| {
        if from == to {
            from.to_string()
        } else {
            format!("{from}-{to}")
        }
    };
    ranges.iter().map(part).collect::<Vec<_>>().join(",")
}

/// The number of CPUs in a kernel CPU list like `0-3,6,8-9`.
fn count_list(list: &str) -> usize {
    list.trim()
        .split(',')
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once('-') {
            Some((a, b)) => match (a.parse::<usize>(), b.parse::<usize>()) {
                (Ok(a), Ok(b)) if b >= a => b - a + 1,
                _ => 0,
            },
            None => usize::from(part.parse::<usize>().is_ok()),
        })
        .sum()
}

/// The CPU quota of this process's cgroup v2 (`cpu.max`: `quota period`,
/// or `max`), walking up to the first limit.
fn quota() -> Option<f64> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let mut dir = std::path::PathBuf::from(format!("/sys/fs/cgroup{path}"));
    loop {
        if let Ok(text) = std::fs::read_to_string(dir.join("cpu.max"))
            && let Some(cpus) = parse_cpu_max(&text)
        {
            return Some(cpus);
        }
        if !dir.pop() || !dir.starts_with("/sys/fs/cgroup") {
            return None;
        }
    }
}

/// `200000 100000` is 2 CPUs; `max 100000` is no limit.
fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut parts = text.split_whitespace();
    let quota: f64 = parts.next()?.parse().ok()?;
    let period: f64 = parts.next()?.parse().ok()?;
    (period > 0.0).then(|| quota / period)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_and_quotas_read_as_the_kernel_writes_them() {
        assert_eq!(count_list("0-3,6,8-9\n"), 7);
        assert_eq!(count_list("0"), 1);
        assert_eq!(parse_cpu_max("200000 100000\n"), Some(2.0));
        assert_eq!(parse_cpu_max("max 100000\n"), None);
    }

    #[test]
    fn cpu_lists_are_written_as_the_kernel_writes_them_and_read_back() {
        assert_eq!(kernel_list(&[0, 1, 2, 3, 6, 8, 9]), "0-3,6,8-9");
        assert_eq!(kernel_list(&[5]), "5");
        assert_eq!(kernel_list(&[]), "");
        assert_eq!(count_list(&kernel_list(&[0, 2, 3, 7])), 4);
    }

    #[test]
    fn slots_take_the_allowed_cpus_in_turn() {
        assert_eq!(for_slot(0, &[2, 5]), Some(2));
        assert_eq!(for_slot(1, &[2, 5]), Some(5));
        assert_eq!(for_slot(2, &[2, 5]), Some(2));
        assert_eq!(for_slot(7, &[3]), Some(3));
        assert_eq!(for_slot(0, &[]), None);
    }

    #[test]
    fn slots_as_many_as_cpus_each_get_a_cpu_of_their_own() {
        let cpus = [0, 1, 4, 6, 7];
        let mut given: Vec<_> = (0..cpus.len()).filter_map(|s| for_slot(s, &cpus)).collect();
        given.sort_unstable();
        assert_eq!(given, cpus);
    }

    #[test]
    fn this_process_may_use_at_least_one_cpu() {
        assert!(!allowed().is_empty());
        let cpus = CpuCount::probe();
        assert!(cpus.usable >= 1);
        assert!(cpus.affinity.is_none_or(|n| n >= cpus.usable.min(n)));
    }
}
