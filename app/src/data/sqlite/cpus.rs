//! Where the backend's own threads run when corral pins the worker.
//!
//! A pinned worker's threads all start on its one CPU. The threads that
//! work beside its requests (the SQLite writer, the checkpointer, the
//! writer host's thread for guests) move to every CPU the supervisor lets
//! the worker use (`CORRAL_CPUS`), so that they and the requests do not
//! take turns on one CPU.

/// Lets the calling thread run on any of `cpus` (none: leaves it as it
/// is): under a write load the writer host's writer thread and its
/// requests need more than one CPU between them.
pub(super) fn spread_over(cpus: &[usize]) {
    if cpus.is_empty() {
        return;
    }
    let mut set = nix::sched::CpuSet::new();
    for &cpu in cpus {
        let _ = set.set(cpu);
    }
    if let Err(error) = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set) {
        tracing::warn!(%error, ?cpus, "an SQLite thread stays on its worker's CPU");
    }
}
