//! TEMPORARY: replaced by the compressor of the `rotate` branch.

/// Gzips rotated files.
#[derive(Clone, Debug, Default)]
pub struct Compressor;

impl Compressor {
    /// Starts it.
    pub fn start() -> Self {
        Self
    }
}
