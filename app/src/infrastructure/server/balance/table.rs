//! The table the workers of one socket share: one slot per worker, each
//! one word, `pid << 32 | open connections`, in a small file in `/dev/shm`
//! mapped by every worker.
//!
//! The file is named after the listening socket's inode, which every
//! worker sharing the socket sees and nothing else has, so the workers of
//! one app (across reloads) meet in one table and no two apps ever do.
//! A worker writes only its own slot (`CORRAL_INSTANCE`), and only while
//! the slot holds its pid: during a rolling reload the new worker of a slot
//! takes it over from the old one, whose later updates then fail their
//! compare-and-swap instead of mixing counts. A slot whose pid no longer
//! exists (a worker killed without a drain) is cleared by whoever notices.

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{Mode, OFlags};
use rustix::mm::{MapFlags, ProtFlags};

use super::rule::Others;

/// Slots in a table: the most workers that can balance one socket.
pub const SLOTS: usize = 256;

/// One slot, alone on its cache line so that workers counting their own
/// connections do not slow each other down.
#[repr(C, align(64))]
#[derive(Debug)]
struct Slot {
    /// `pid << 32 | connections`; 0 when free.
    word: AtomicU64,
}

/// The bytes a table takes.
const LEN: usize = SLOTS * size_of::<Slot>();

/// The mapped table, and this worker's place in it.
#[derive(Debug)]
pub struct Table {
    slots: &'static [Slot; SLOTS],
    path: PathBuf,
    index: usize,
    /// The slots read on every accept: corral's worker count. A worker
    /// added later by `corral scale` sees every slot below its own count;
    /// the older ones, not seeing it, only hold back less.
    scanned: usize,
    pid: u32,
}

impl Table {
    /// Opens (creating it if needed) the table of `socket`, and takes slot
    /// `index` of `count` for this process with no connection.
    pub fn open(socket: impl AsFd, index: usize, count: usize) -> std::io::Result<Self> {
        if index >= SLOTS {
            return Err(std::io::Error::other(format!(
                "instance {index} is beyond the {SLOTS} slots a table has"
            )));
        }
        let inode = rustix::fs::fstat(&socket)?.st_ino;
        let path = PathBuf::from(format!("/dev/shm/app-balance-v1-{inode}"));
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        let file = rustix::fs::open(&path, flags, Mode::from_raw_mode(0o600))?;
        if rustix::fs::fstat(&file)?.st_size < LEN as i64 {
            rustix::fs::ftruncate(&file, LEN as u64)?;
        }
        // SAFETY: a fresh shared mapping of LEN bytes of `file`, which is
        // at least LEN bytes long (grown just above; only these workers,
        // which never shrink it, can open it: mode 0600), placed by the
        // kernel at a page-aligned address, so aligned for `Slot`. Every
        // bit pattern is a valid `AtomicU64`, and every process touches
        // the words only through atomic operations, so sharing them across
        // processes is as sound as sharing them across threads. The
        // mapping is never unmapped: the reference lives for the process.
        let slots = unsafe {
            let base = rustix::mm::mmap(
                std::ptr::null_mut(),
                LEN,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &file,
                0,
            )?;
            &*base.cast::<[Slot; SLOTS]>()
        };
        let pid = std::process::id();
        slots[index]
            .word
            .store(u64::from(pid) << 32, Ordering::SeqCst);
        Ok(Self {
            slots,
            path,
            index,
            scanned: count.clamp(index + 1, SLOTS),
            pid,
        })
    }

    /// Records this worker's open connections, if its slot is still its
    /// own (a new worker of the same slot may have taken it over).
    pub fn publish(&self, connections: u32) {
        let slot = &self.slots[self.index].word;
        let mut current = slot.load(Ordering::Relaxed);
        while current >> 32 == u64::from(self.pid) {
            let new = u64::from(self.pid) << 32 | u64::from(connections);
            match slot.compare_exchange_weak(current, new, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// The other workers' connections, as their slots say.
    pub fn others(&self) -> Others {
        let mut others = Others::default();
        for (pid, connections) in occupied(&self.slots[..self.scanned]) {
            if pid != self.pid {
                others.connections += u64::from(connections);
                others.workers += 1;
            }
        }
        others
    }

    /// Clears the slots of processes that no longer exist; returns how many.
    pub fn forget_dead(&self) -> usize {
        let mut forgotten = 0;
        for slot in &self.slots[..self.scanned] {
            let word = slot.word.load(Ordering::SeqCst);
            let pid = (word >> 32) as u32;
            if word == 0 || pid == self.pid || alive(pid) {
                continue;
            }
            if slot
                .word
                .compare_exchange(word, 0, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                forgotten += 1;
            }
        }
        forgotten
    }

    /// Gives the slot up (the worker accepts no more), and removes the file
    /// when no worker is left in it, so stopped apps leave nothing in
    /// `/dev/shm`. A worker that opens the file just before the removal
    /// ends up alone in a table of its own: it then balances with nobody,
    /// which costs balance, never capacity.
    pub fn leave(&self) {
        let slot = &self.slots[self.index].word;
        let mut current = slot.load(Ordering::SeqCst);
        while current >> 32 == u64::from(self.pid) {
            match slot.compare_exchange(current, 0, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        let _ = self.forget_dead();
        if occupied(self.slots).next().is_none() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// `(pid, connections)` of every occupied slot of `slots`.
fn occupied(slots: &[Slot]) -> impl Iterator<Item = (u32, u32)> + '_ {
    slots.iter().filter_map(|slot| {
        let word = slot.word.load(Ordering::SeqCst);
        (word != 0).then_some(((word >> 32) as u32, word as u32))
    })
}

/// Whether `pid` exists (a zombie not reaped yet counts as alive, for the
/// few milliseconds until the supervisor reaps it).
fn alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_see_each_other_and_a_taken_over_slot_ignores_its_old_owner() {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let me = Table::open(&socket, 0, 2).unwrap();
        assert_eq!(me.others(), Others::default());
        me.publish(7);
        // Another worker, in slot 1, as this test's pid cannot be two.
        let other = Table::open(&socket, 1, 2).unwrap();
        let other_pid = u64::from(u32::MAX - 1);
        other.slots[1]
            .word
            .store(other_pid << 32 | 5, Ordering::SeqCst);
        assert_eq!(
            me.others(),
            Others {
                connections: 5,
                workers: 1
            }
        );
        // A pid that cannot exist is forgotten.
        assert_eq!(me.forget_dead(), 1);
        assert_eq!(me.others(), Others::default());
        // A new worker takes slot 0 over: the old owner's counts are ignored.
        me.slots[0].word.store(other_pid << 32, Ordering::SeqCst);
        me.publish(9);
        assert_eq!(me.slots[0].word.load(Ordering::SeqCst), other_pid << 32);
        me.slots[0].word.store(0, Ordering::SeqCst);
        me.publish(1);
        me.leave();
        assert!(!me.path.exists(), "the last worker out removes the table");
    }
}
