//! How many heaps glibc's allocator keeps.
//!
//! glibc gives a thread that finds the other heaps busy an arena of its
//! own, up to eight per core, and an arena keeps what it freed. A worker
//! runs a runtime thread, the SQLite writer and one sqlx thread per read
//! connection: measured under the 90/10 mix (bench S5), each process held
//! ten arenas of 1.2-2.6 MiB beside its main heap, and the worker that
//! writes for the others reached 33-38 MiB of RSS. Two arenas keep it near
//! 30 MiB (the bound) at the same throughput. An operator's own
//! `MALLOC_ARENA_MAX` wins.

/// The arenas a worker keeps unless the environment says otherwise.
const ARENAS: i32 = 2;

/// Limits glibc's arenas, unless `MALLOC_ARENA_MAX` is set (glibc applies
/// that itself); call before any thread starts (arenas already made stay).
/// Does nothing on other C libraries.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: `mallopt` only sets a tunable of the allocator; no thread
        // but this one runs yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        }
    }
}
