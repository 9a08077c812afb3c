//! `GET /leak?mb=N`: memory that is allocated, written to and never freed,
//! so that the worker's PSS really grows and the supervisor's memory limit
//! has something to find.

use std::sync::Mutex;

/// One mebibyte.
const MIB: usize = 1 << 20;

/// Every block leaked so far. Kept reachable (not `mem::forget`) so the
/// allocator cannot give the pages back.
#[derive(Default)]
pub struct Leak(Mutex<Vec<Box<[u8]>>>);

impl Leak {
    /// Allocates `mb` MiB more, writes to every page of it (a page never
    /// written to costs no memory), and returns the MiB leaked in total.
    pub fn grow(&self, mb: u64) -> u64 {
        let mut block = vec![0u8; mb as usize * MIB].into_boxed_slice();
        for page in block.chunks_mut(4096) {
            page[0] = 1;
        }
        let mut blocks = self.0.lock().unwrap_or_else(|e| e.into_inner());
        blocks.push(std::hint::black_box(block));
        blocks.iter().map(|b| (b.len() / MIB) as u64).sum()
    }
}
