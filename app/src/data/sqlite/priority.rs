//! The writer thread's place in the CPU scheduler.
//!
//! Every process's writes on a file go through one writer thread, so while
//! it waits for a CPU, every writer waits. On two CPUs shared with the
//! workers' request threads (pinned by corral, one each) the writer was
//! preempted 1,200-1,500 times a second under a stream of post creations
//! (bench S4), three times as often as in one unpinned process; at nice -5
//! the two workers served 7% more writes (one A/B of five rounds). Raising a thread's priority needs
//! `CAP_SYS_NICE` (or `LimitNICE=` in a systemd unit): without it the
//! writer stays at the process's priority, which is only slower.

use rustix::process::{Pid, setpriority_process};

/// The writer's nice value when it may have it: ahead of the request
/// threads at 0 without starving them (one nice step is ~10% of CPU share
/// in contention).
pub(super) const WRITER_NICE: i32 = -5;

/// Gives the calling thread `nice` when the process is allowed to.
pub(super) fn raise_calling_thread(nice: i32) {
    if let Err(error) = setpriority_process(calling_thread(), nice) {
        tracing::debug!(%error, nice, "the SQLite writer thread keeps its priority");
    }
}

/// The calling thread, as `setpriority` and `getpriority` name it: on
/// Linux a thread's id names that thread alone.
pub(super) fn calling_thread() -> Option<Pid> {
    Pid::from_raw(nix::unistd::gettid().as_raw())
}
