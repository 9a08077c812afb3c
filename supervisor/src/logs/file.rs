//! TEMPORARY: replaced by the rotating file of the `rotate` branch.

use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;

use chrono::{DateTime, Local};

use super::Compressor;
use crate::config::Rotation;

/// What a write did.
#[derive(Debug)]
pub struct Written {
    /// Lines written.
    pub lines: usize,
    /// Lines dropped.
    pub dropped: usize,
    /// The first error.
    pub error: Option<std::io::Error>,
}

/// A log file.
pub struct RotatingFile {
    path: PathBuf,
    file: Option<File>,
}

impl RotatingFile {
    /// A file at `path`.
    pub fn new(path: PathBuf, _rotation: Rotation, _compressor: Compressor) -> Self {
        Self { path, file: None }
    }

    /// Appends lines.
    pub fn write(&mut self, lines: &[u8], count: usize, _now: DateTime<Local>) -> Written {
        if self.file.is_none() {
            if let Some(dir) = self.path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
            {
                Ok(f) => self.file = Some(f),
                Err(error) => {
                    return Written {
                        lines: 0,
                        dropped: count,
                        error: Some(error),
                    };
                }
            }
        }
        match self.file.as_mut().expect("open").write_all(lines) {
            Ok(()) => Written {
                lines: count,
                dropped: 0,
                error: None,
            },
            Err(error) => Written {
                lines: 0,
                dropped: count,
                error: Some(error),
            },
        }
    }

    /// Reopens.
    pub fn reopen(&mut self) {
        self.file = None;
    }
}
