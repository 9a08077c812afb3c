//! `GET /spike?mb=N&ms=M`: memory that is mapped, written to, held for M ms
//! and then given back to the kernel, so that the worker's PSS rises for a
//! moment only, as a burst of work would make it, and a memory limit that
//! counts samples in a row has a short spike to ignore.
//!
//! The block is an anonymous mapping of its own (mmap), not a heap
//! allocation: a freed heap block may stay in the allocator's arenas and
//! keep counting, while munmap returns the pages at once.

use std::ptr::NonNull;
use std::time::Duration;

/// One mebibyte.
const MIB: usize = 1 << 20;

/// The size of a page on every platform the tests run on; writing one byte
/// per page is what makes the kernel back it with memory.
const PAGE: usize = 4096;

/// An anonymous private mapping, unmapped on drop.
struct Mapping {
    start: NonNull<libc::c_void>,
    len: usize,
}

impl Mapping {
    /// Maps `len` bytes of zeroed memory, not yet backed by pages.
    fn new(len: usize) -> std::io::Result<Self> {
        // SAFETY: a new anonymous mapping at an address the kernel picks;
        // no existing memory is touched, and the result is checked.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if start == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let start = NonNull::new(start).ok_or_else(|| std::io::Error::other("mmap gave null"))?;
        Ok(Self { start, len })
    }

    /// Writes one byte in every page, so every page costs real memory.
    fn touch(&mut self) {
        let base = self.start.as_ptr().cast::<u8>();
        for offset in (0..self.len).step_by(PAGE) {
            // SAFETY: `offset < len`, inside the mapping, which is writable
            // and owned by `self` alone; volatile so the write is not elided.
            unsafe { base.add(offset).write_volatile(1) };
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` created, once; nothing
        // refers to it after `self` is gone.
        unsafe { libc::munmap(self.start.as_ptr(), self.len) };
    }
}

/// Holds `mb` MiB of touched memory for `ms` milliseconds, then gives it
/// back to the kernel.
pub fn spike(mb: u64, ms: u64) -> std::io::Result<()> {
    let len = usize::try_from(mb)
        .ok()
        .and_then(|mb| mb.checked_mul(MIB))
        .ok_or_else(|| std::io::Error::other(format!("{mb} MiB cannot be mapped")))?;
    let mut mapping = Mapping::new(len.max(PAGE))?;
    mapping.touch();
    std::thread::sleep(Duration::from_millis(ms));
    drop(mapping);
    Ok(())
}
