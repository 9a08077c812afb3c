//! A batch: the lines of one read of one worker pipe, and where and when
//! they were read.

use std::time::SystemTime;

use super::capture::Source;

/// The lines of one read of one pipe, back to back without their `\n`.
pub(super) struct Batch {
    pub source: Source,
    /// When they were read: what their stamp says.
    pub at: SystemTime,
    text: Vec<u8>,
    ends: Vec<usize>,
}

impl Batch {
    pub fn new(source: Source) -> Self {
        Self::with_capacity(source, 0)
    }

    /// A batch with room for `bytes` of lines, so that filling it from one
    /// read does not reallocate it again and again.
    pub fn with_capacity(source: Source, bytes: usize) -> Self {
        Self {
            source,
            at: SystemTime::now(),
            text: Vec::with_capacity(bytes),
            // Log lines are rarely shorter than 64 bytes.
            ends: Vec::with_capacity(bytes / 64),
        }
    }

    pub fn push(&mut self, line: &[u8]) {
        self.text.extend_from_slice(line);
        self.ends.push(self.text.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// What it weighs against the app's queue budget.
    pub fn bytes(&self) -> usize {
        self.text.len() + self.ends.len()
    }

    pub fn lines(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, &end)| &self.text[start..end])
    }
}
