//! The SQLite content generation, in memory shared by every process on the
//! database: a read takes it with one atomic load, no pool, no query.
//!
//! # Where it lives
//!
//! A file beside the database, `<database>-generation` (next to SQLite's
//! own `-wal` and `-shm`, named from the canonical path so every process
//! finds the same one), mapped shared. It holds a random `epoch` (chosen
//! when the file is made, so databases sharing a Redis never meet on a
//! key), a `serial` that grows with every write, and one in-flight counter
//! per process (`slots`). A process owns its slot through an open-file-
//! description lock on one byte of the file, which the kernel drops when the
//! process dies: that is how others tell a dead owner from a live one.
//!
//! # The protocol
//!
//! A write, while it holds SQLite's write lock (`BEGIN IMMEDIATE`), right
//! before `COMMIT`: (a) adds one to its slot ("a write may be landing").
//! Then (b) it commits, (c) adds one to `serial`, (d) takes one off its slot,
//! and only then is the write acknowledged. See [`SharedGeneration::commit`].
//!
//! A read: (1) takes `serial` and keys its lookup with it. On a miss it
//! (2) loads from the database, then stores the value only if (3) every
//! slot is zero and (4) `serial` is still what it took
//! ([`SharedGeneration::still`]). Every step is sequentially consistent.
//!
//! Why a read after an acknowledged write W never reaches an entry older
//! than W: the read's (1) sees `serial` at or past W's (c), and an entry
//! under that value was stored by a read whose own (1) saw that value, so
//! came after W's (c), after W's commit: its load saw W.
//!
//! Why no read stores a value older than W under a value that comes after
//! W's (c): such a read took `serial` before (c) and loaded before W's
//! commit landed. If W's (a) came before its (3), then either (d) had not
//! happened yet (a slot is non-zero: no store) or it had, and so had (c)
//! (`serial` moved: no store). If (a) came after its (3), the commit came
//! after its load, so the value is older than W but kept under a value W's
//! (c) leaves behind: nobody after W's acknowledgement reads it.
//!
//! A read that took `serial` before W's commit and loaded after it may keep
//! newer data under the older value: harmless.
//!
//! # When a write does not finish
//!
//! A write whose commit was cancelled (its future dropped while `COMMIT`
//! was in flight) cannot tell whether or when the commit lands, so it
//! leaves its slot raised: reads keep serving entries made before it (it
//! was never acknowledged) but store nothing new, so no entry is made from
//! data that predates a commit the generation has not yet counted. The
//! process settles it at its next commit, before its own (a): it then holds
//! the write lock, so every transaction that held it before, the cancelled
//! one included, has committed or rolled back. A process that dies with its
//! slot raised (between (a) and (d)) leaves it so until another process
//! looks: a read that finds a slot raised (at most once a second per
//! process) and every opening of the file take, under the opening lock, the
//! slot lock of every raised slot they can; a slot whose lock is free has a
//! dead owner, whose writes are final, so they add one to `serial` and
//! clear the slot. Opening also adds one to
//! `serial` in every case, so a database file replaced under the same path
//! (a restored backup) is not read through entries of the old one.

use std::fs::{File, OpenOptions};
#[cfg(test)]
use std::future::Future;
use std::io;
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::data::generation::{ContentGeneration, Generation};
use crate::data::{DataError, DataResult};

/// Marks a file laid out as [`Region`].
const MAGIC: u64 = u64::from_le_bytes(*b"corrgen1");
/// Processes that can share one database at once (the CLI included).
const SLOTS: usize = 256;
/// Bytes of the file that are mapped.
const REGION_BYTES: usize = 4096;
/// The byte whose lock serialises opening the file (past the mapped part;
/// locks need no bytes to exist).
const OPEN_LOCK: i64 = 8192;
/// How often a process that finds a slot raised looks for dead owners.
const REPAIR_EVERY: Duration = Duration::from_secs(1);
/// `last_repair` before the first repair.
const NEVER: u64 = u64::MAX;
/// The byte whose lock owns slot 0; slot `i` is owned through `SLOT_LOCKS + i`.
const SLOT_LOCKS: i64 = 8193;

/// The shared part, as laid out in the file. All-zero bytes are a valid
/// (uninitialised) value, which is what extending the file yields.
#[repr(C)]
struct Region {
    /// [`MAGIC`] once initialised.
    magic: AtomicU64,
    /// Random, non-zero, chosen when the file is initialised.
    epoch: AtomicU64,
    /// Grows by one after every commit (and at every opening).
    serial: AtomicU64,
    /// Puts the slots on a cache line of their own.
    _pad: [u64; 5],
    /// Commits in flight per process.
    slots: [AtomicU32; SLOTS],
}

const _: () = assert!(size_of::<Region>() <= REGION_BYTES);

impl Region {
    /// A region in this process' memory only.
    fn private() -> Self {
        Self {
            magic: AtomicU64::new(MAGIC),
            epoch: AtomicU64::new(random_epoch()),
            serial: AtomicU64::new(0),
            _pad: [0; 5],
            slots: std::array::from_fn(|_| AtomicU32::new(0)),
        }
    }

    /// Whether no slot has a commit in flight.
    fn quiet(&self) -> bool {
        self.slots.iter().all(|slot| slot.load(SeqCst) == 0)
    }

    /// Clears slot `slot`, whose commits are all final (its owner is dead,
    /// or it is this process' leftover): counts one more generation first,
    /// so entries stored before those commits are not reached again.
    fn settle(&self, slot: usize, commits: u32) {
        if commits > 0 {
            self.serial.fetch_add(1, SeqCst);
            self.slots[slot].fetch_sub(commits, SeqCst);
        }
    }
}

/// A non-zero random number naming one generation file.
fn random_epoch() -> u64 {
    rand::random::<u64>().max(1)
}

/// Where the region lives.
enum Backing {
    /// Mapped from the generation file, whose open description holds this
    /// process' slot lock.
    File {
        /// The mapping, [`REGION_BYTES`] long.
        region: NonNull<Region>,
        /// Kept open: closing it would drop the slot lock.
        _file: File,
    },
    /// An in-memory database (seen by this process only), or tests.
    Private(Arc<Region>),
}

/// The content generation of one SQLite database, as one process sees it.
pub(crate) struct SharedGeneration {
    backing: Backing,
    /// This process' slot.
    slot: usize,
    /// The region's epoch, read once.
    epoch: u64,
    /// Commits whose marker was dropped while the commit was in flight.
    leaked: AtomicU32,
    /// When this was made: the origin of `last_repair`.
    opened: Instant,
    /// Milliseconds after `opened` of the last [`repair_soon`](Self::repair_soon).
    last_repair: AtomicU64,
}

// SAFETY: the mapping is only ever accessed through atomics (`Region` has
// no other interior state), shared memory included, and it stays mapped
// until `drop`, which runs once no reference is left.
unsafe impl Send for SharedGeneration {}
// SAFETY: as above: every access is atomic.
unsafe impl Sync for SharedGeneration {}

impl Drop for SharedGeneration {
    fn drop(&mut self) {
        if let Backing::File { region, .. } = self.backing {
            // SAFETY: `region` is the mapping made in `map`, of
            // `REGION_BYTES`, and nothing refers to it once `self` is gone.
            unsafe {
                libc::munmap(region.as_ptr().cast(), REGION_BYTES);
            }
        }
    }
}

impl SharedGeneration {
    /// The counter `suffix` names ([`CONTENT`], [`SESSIONS`]) beside the
    /// database file `database` (which must exist), shared by every
    /// process that opens it; see the module doc.
    pub(crate) fn open_beside(database: &Path, suffix: &str) -> io::Result<Self> {
        let path = counter_path(database, suffix)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)?;
        lock(&file, OPEN_LOCK, Lock::Wait)?;
        let opened = Self::open_locked(file);
        // Closing the file on failure drops the lock with it.
        if let Ok(generation) = &opened
            && let Backing::File { _file: file, .. } = &generation.backing
        {
            unlock(file, OPEN_LOCK)?;
        }
        opened.map_err(|error| io::Error::new(error.kind(), format!("{}: {error}", path.display())))
    }

    /// [`open`](Self::open), once the opening lock is held.
    fn open_locked(file: File) -> io::Result<Self> {
        if file.metadata()?.len() < REGION_BYTES as u64 {
            file.set_len(REGION_BYTES as u64)?;
        }
        let slot = (0..SLOTS)
            .find(|&slot| lock(&file, slot_lock(slot), Lock::Try).unwrap_or(false))
            .ok_or_else(|| io::Error::other(format!("more than {SLOTS} processes share it")))?;
        let region = map(&file)?;
        // SAFETY: just mapped, REGION_BYTES long, valid for any bytes.
        let shared = unsafe { region.as_ref() };
        if shared.magic.load(SeqCst) != MAGIC {
            shared.epoch.store(random_epoch(), SeqCst);
            for slot in &shared.slots {
                slot.store(0, SeqCst);
            }
            shared.magic.store(MAGIC, SeqCst);
        }
        let generation = Self {
            backing: Backing::File {
                region,
                _file: file,
            },
            slot,
            epoch: shared.epoch.load(SeqCst),
            leaked: AtomicU32::new(0),
            opened: Instant::now(),
            last_repair: AtomicU64::new(NEVER),
        };
        generation.repair_dead(true)?;
        shared.serial.fetch_add(1, SeqCst);
        Ok(generation)
    }

    /// A generation for this process alone (an in-memory database).
    pub(crate) fn private() -> Self {
        Self::attach(Arc::new(Region::private()), 0)
    }

    /// Slot `slot` of a region in this process' memory.
    fn attach(region: Arc<Region>, slot: usize) -> Self {
        let epoch = region.epoch.load(SeqCst);
        Self {
            backing: Backing::Private(region),
            slot,
            epoch,
            leaked: AtomicU32::new(0),
            opened: Instant::now(),
            last_repair: AtomicU64::new(NEVER),
        }
    }

    fn region(&self) -> &Region {
        match &self.backing {
            // SAFETY: mapped for as long as `self` lives (see `Drop`).
            Backing::File { region, .. } => unsafe { region.as_ref() },
            Backing::Private(region) => region,
        }
    }

    /// Settles the raised slots of dead processes (their lock is free):
    /// run under the opening lock, so no process claims a slot meanwhile.
    /// At opening, this process' own slot is a dead one's leftover too.
    fn repair_dead(&self, opening: bool) -> io::Result<()> {
        let Backing::File { _file: file, .. } = &self.backing else {
            return Ok(());
        };
        let region = self.region();
        for slot in 0..SLOTS {
            let raised = region.slots[slot].load(SeqCst);
            if slot == self.slot {
                if opening {
                    region.settle(slot, raised);
                }
            } else if raised > 0 && lock(file, slot_lock(slot), Lock::Try)? {
                region.settle(slot, region.slots[slot].load(SeqCst));
                unlock(file, slot_lock(slot))?;
            }
        }
        Ok(())
    }

    /// Settles dead processes' slots now, unless another process is
    /// opening the file (which does it) or this one tried within
    /// [`REPAIR_EVERY`]: what a read does when it finds a slot raised, so
    /// a worker that died mid-commit stops caching for about that long.
    fn repair_soon(&self) {
        let Backing::File { _file: file, .. } = &self.backing else {
            return;
        };
        let now = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.last_repair.load(SeqCst);
        let due = last == NEVER || now.saturating_sub(last) >= REPAIR_EVERY.as_millis() as u64;
        if !due
            || self
                .last_repair
                .compare_exchange(last, now, SeqCst, SeqCst)
                .is_err()
        {
            return;
        }
        if let Ok(true) = lock(file, OPEN_LOCK, Lock::Try) {
            if let Err(error) = self.repair_dead(false) {
                tracing::warn!(%error, "cannot settle the generation slots of dead processes");
            }
            let _ = unlock(file, OPEN_LOCK);
        }
    }

    /// Step (a), after settling what an earlier commit of this process left
    /// raised (it is final now: this process holds the write lock again).
    fn raise(&self) -> Marker<'_> {
        self.region().settle(self.slot, self.leaked.swap(0, SeqCst));
        Marker::raise(self)
    }

    /// Runs `commit` (a transaction's `COMMIT`, which must hold SQLite's
    /// write lock) as steps (a) to (d) of the module doc. If this future is
    /// dropped before `commit` finishes, the slot stays raised until the
    /// process' next commit settles it.
    ///
    /// The writer commits through [`Self::commit_blocking`]; this form
    /// lets the tests cancel a commit in flight.
    #[cfg(test)]
    pub(crate) async fn commit<T, E>(
        &self,
        commit: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let marker = self.raise();
        let outcome = commit.await;
        marker.clear();
        outcome
    }

    /// Runs `commit` (a transaction's `COMMIT`, which must hold SQLite's
    /// write lock) as steps (a) to (d) of the module doc, on the calling
    /// thread. If `commit` panics, the slot stays raised until the
    /// process' next commit settles it, as for a cancelled commit.
    pub(crate) fn commit_blocking<T, E>(
        &self,
        commit: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let marker = self.raise();
        let outcome = commit();
        marker.clear();
        outcome
    }

    /// The counter now: one atomic load, no await (what
    /// [`ContentGeneration::current`] answers, for callers that know this
    /// type and are on a hot path: the session cache).
    pub(crate) fn read(&self) -> Generation {
        Generation {
            epoch: self.epoch,
            serial: self.region().serial.load(SeqCst),
        }
    }
}

/// One raised slot; dropped without [`clear`](Marker::clear), it is left
/// raised and recorded as leaked.
struct Marker<'a> {
    generation: &'a SharedGeneration,
}

impl<'a> Marker<'a> {
    fn raise(generation: &'a SharedGeneration) -> Self {
        generation.region().slots[generation.slot].fetch_add(1, SeqCst);
        Self { generation }
    }

    /// The commit finished (landed or failed): steps (c) and (d).
    fn clear(self) {
        self.generation.region().settle(self.generation.slot, 1);
        std::mem::forget(self);
    }
}

impl Drop for Marker<'_> {
    fn drop(&mut self) {
        self.generation.leaked.fetch_add(1, SeqCst);
        tracing::warn!(
            "a commit was cancelled in flight; cached reads are not stored until the next write"
        );
    }
}

#[async_trait]
impl ContentGeneration for SharedGeneration {
    async fn current(&self) -> DataResult<Generation> {
        Ok(self.read())
    }

    fn still(&self, taken: Generation) -> bool {
        let region = self.region();
        if !region.quiet() {
            self.repair_soon();
            return false;
        }
        taken.epoch == self.epoch && region.serial.load(SeqCst) == taken.serial
    }
}

/// The content generation's file: `<database>-generation`.
pub(crate) const CONTENT: &str = "-generation";

/// The sessions' counter's file: `<database>-sessions`. It moves with every
/// commit that revokes a session or changes a user's role, which is what
/// the session cache ([`super::sessions`]) is keyed by.
pub(crate) const SESSIONS: &str = "-sessions";

/// `<database><suffix>`, from the database's canonical path.
fn counter_path(database: &Path, suffix: &str) -> io::Result<PathBuf> {
    Ok(super::beside(&std::fs::canonicalize(database)?, suffix))
}

/// Maps the first [`REGION_BYTES`] of `file`, shared.
fn map(file: &File) -> io::Result<NonNull<Region>> {
    // SAFETY: a fresh shared mapping of a file at least REGION_BYTES long
    // (see `open_locked`); nothing else in this process aliases it.
    let address = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            REGION_BYTES,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if address == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(address.cast()).ok_or_else(|| io::Error::other("mmap returned null"))
}

/// The lock byte of slot `slot`.
fn slot_lock(slot: usize) -> i64 {
    SLOT_LOCKS + i64::try_from(slot).unwrap_or(i64::MAX - SLOT_LOCKS)
}

/// How [`lock`] waits.
#[derive(Clone, Copy)]
enum Lock {
    /// Until the lock is free.
    Wait,
    /// Not at all: `false` when another description holds it.
    Try,
}

/// Takes the write lock on byte `at` of `file`, as an open-file-description
/// lock: owned by this open file (not the process), dropped by the kernel
/// when it closes, the process' death included.
fn lock(file: &File, at: i64, how: Lock) -> io::Result<bool> {
    let command = match how {
        Lock::Wait => libc::F_OFD_SETLKW,
        Lock::Try => libc::F_OFD_SETLK,
    };
    match fcntl_lock(file, at, libc::F_WRLCK as libc::c_short, command) {
        Ok(()) => Ok(true),
        Err(error)
            if matches!(how, Lock::Try)
                && matches!(error.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) =>
        {
            Ok(false)
        }
        Err(error) => Err(error),
    }
}

/// Drops the lock on byte `at` of `file`.
fn unlock(file: &File, at: i64) -> io::Result<()> {
    fcntl_lock(file, at, libc::F_UNLCK as libc::c_short, libc::F_OFD_SETLK)
}

/// One `fcntl` lock command on the one byte at `at`, retried on `EINTR`.
fn fcntl_lock(file: &File, at: i64, kind: libc::c_short, command: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: all-zero is a valid `flock` (and l_pid must be 0 for
        // open-file-description locks).
        let mut request: libc::flock = unsafe { std::mem::zeroed() };
        request.l_type = kind;
        request.l_whence = libc::SEEK_SET as libc::c_short;
        request.l_start = at;
        request.l_len = 1;
        // SAFETY: a valid descriptor and a valid `flock` for this command.
        let done = unsafe { libc::fcntl(file.as_raw_fd(), command, &mut request) };
        if done == 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// The counter `suffix` names of the database `url` names, which `pool`
/// has opened: shared through the file beside it, or private to this
/// process for an in-memory database.
pub(crate) async fn for_pool(
    url: &str,
    pool: &sqlx::SqlitePool,
    suffix: &'static str,
) -> DataResult<SharedGeneration> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Ok(SharedGeneration::private());
    }
    let database = pool.connect_options().get_filename().to_owned();
    let unavailable = |error: io::Error| DataError::Unavailable(Box::new(error));
    tokio::task::spawn_blocking(move || SharedGeneration::open_beside(&database, suffix))
        .await
        .map_err(|error| unavailable(io::Error::other(error)))?
        .map_err(unavailable)
}

#[cfg(test)]
mod tests;
