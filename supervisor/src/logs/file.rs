//! One log file that only this process writes, owned by a writer thread:
//! whole lines only, rotation by rename and reopen, and a full or missing
//! disk met by dropping (and counting) lines rather than by waiting.
//!
//! The file is opened with `O_APPEND`, so a tool that appends meanwhile is
//! never overwritten, but its size is tracked here: a write that fails part
//! way (ENOSPC, EIO) is cut back to the end of its last whole line, so no
//! fragment stays for the next line to be glued to. A file that cannot be
//! opened is tried again at most once a second.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local, TimeDelta};

use super::archive::{Archive, failed};
use super::compress::Compressor;
use crate::config::Rotation;

/// How long the file system is left alone after it refused to open or
/// rotate the file, so a missing folder costs one attempt a second, not
/// one per line.
const RETRY: TimeDelta = TimeDelta::seconds(1);

/// A live log file and its rotated copies.
pub struct RotatingFile {
    path: PathBuf,
    rotation: Rotation,
    archive: Archive,
    compressor: Compressor,
    live: Option<Live>,
    retry_at: Option<DateTime<Local>>,
}

struct Live {
    file: File,
    /// Bytes of whole lines in the file: where a failed write is cut back to.
    size: u64,
    /// The file may hold a fragment past `size` that could not be cut yet.
    dirty: bool,
    rotate_at: Option<DateTime<Local>>,
}

/// What became of the lines given to one [`RotatingFile::write`], for the
/// counts the writer keeps per app and stream.
#[derive(Debug, Default)]
pub struct Written {
    /// Lines now in a file.
    pub lines: usize,
    /// Lines lost: the file could not be opened or written.
    pub dropped: usize,
    /// The first error met, for a rate-limited log line by the caller.
    /// `None` with lines dropped means the file system refused less than a
    /// second ago and was not asked again.
    pub error: Option<io::Error>,
}

impl Written {
    fn note(&mut self, err: io::Error) {
        self.error.get_or_insert(err);
    }
}

impl RotatingFile {
    /// A file at `path`, opened (with its folder created) at the first
    /// write, so a missing disk never fails the app's start.
    pub fn new(path: PathBuf, rotation: Rotation, compressor: Compressor) -> Self {
        Self {
            archive: Archive::new(&path, &rotation),
            path,
            rotation,
            compressor,
            live: None,
            retry_at: None,
        }
    }

    /// The live file's path, to tell whether a changed config still
    /// writes here.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `lines`, `count` whole lines each ending in `\n`, at `now`,
    /// rotating between lines when `max_size` or the interval says so.
    pub fn write(&mut self, lines: &[u8], count: usize, now: DateTime<Local>) -> Written {
        debug_assert!(lines.is_empty() || lines.ends_with(b"\n"));
        let mut written = Written::default();
        let (mut rest, mut left) = (lines, count);
        while !rest.is_empty() {
            self.open(now, &mut written);
            let waiting = self.waiting(now);
            let Some(live) = self.live.as_mut() else {
                written.dropped += left;
                break;
            };
            if live.size == 0 {
                // An empty file's hour or day starts with its first line.
                live.rotate_at = self.rotation.deadline(now);
            }
            let due = live.rotate_at.is_some_and(|at| now >= at);
            let take = match live.size {
                // A rotation that failed is not tried again for a second.
                size if waiting && size > 0 => rest.len(),
                size if due && size > 0 => 0,
                size => self.rotation.portion(size, rest),
            };
            if take == 0 {
                self.rotate(now, &mut written);
                continue;
            }
            let (chunk, tail) = rest.split_at(take);
            let lines_in = match tail {
                [] => left,
                _ => newlines(chunk),
            };
            match append(live, chunk) {
                Ok(()) => written.lines += lines_in,
                Err((kept, err)) => {
                    let done = newlines(&chunk[..kept]);
                    written.lines += done;
                    written.dropped += left - done;
                    written.note(self.failed(err, "write"));
                    break;
                }
            }
            (rest, left) = (tail, left - lines_in);
        }
        written
    }

    /// Closes the file; the next write opens the path again, creating it.
    /// For SIGUSR1, after an external logrotate moved the file away.
    pub fn reopen(&mut self) {
        self.live = None;
        self.retry_at = None;
    }

    /// Whether the file system refused less than a second ago. A clock
    /// stepped back does not stretch the wait.
    fn waiting(&self, now: DateTime<Local>) -> bool {
        self.retry_at
            .is_some_and(|at| now < at && at - now <= RETRY)
    }

    fn failed(&self, err: io::Error, doing: &str) -> io::Error {
        failed(err, format_args!("cannot {doing} {}", self.path.display()))
    }

    fn open(&mut self, now: DateTime<Local>, written: &mut Written) {
        if self.live.is_some() || self.waiting(now) {
            return;
        }
        match open(&self.path, &self.rotation, now) {
            Ok(live) => {
                self.live = Some(live);
                self.retry_at = None;
                let note = &mut |err: io::Error| written.note(err);
                self.archive.list(&self.compressor, note);
            }
            Err(err) => {
                written.note(self.failed(err, "open"));
                self.retry_at = Some(now + RETRY);
            }
        }
    }

    fn rotate(&mut self, now: DateTime<Local>, written: &mut Written) {
        let note = &mut |err: io::Error| written.note(err);
        match self.archive.rotate(&self.path, now, &self.compressor, note) {
            Ok(()) => self.live = None,
            // Moved away without a SIGUSR1: its lines are there, start anew.
            Err(err) if err.kind() == io::ErrorKind::NotFound => self.live = None,
            // Keep writing this file (nothing is lost) and try again later.
            Err(err) => {
                written.note(err);
                self.retry_at = Some(now + RETRY);
            }
        }
    }
}

fn open(path: &Path, rotation: &Rotation, now: DateTime<Local>) -> io::Result<Live> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    // Readable too, to see whether the file ends in a whole line.
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)?;
    let meta = file.metadata()?;
    let mut size = meta.len();
    // A file left ending in half a line (by a crash or another tool) gets
    // its newline, so that the first line written is not glued to it.
    let mut last = [0u8];
    if size > 0 && file.read_at(&mut last, size - 1).is_ok() && last != *b"\n" {
        file.write_all(b"\n")?;
        size += 1;
    }
    // A file kept from before an hour or day ended rotates at once.
    let since = meta
        .modified()
        .map_or(now, |t| DateTime::<Local>::from(t).min(now));
    let rotate_at = rotation.deadline(since);
    Ok(Live {
        file,
        size,
        dirty: false,
        rotate_at,
    })
}

/// Writes `chunk` whole or cuts the file back to its last whole line; on
/// error, returns how many bytes of whole lines of `chunk` stayed.
fn append(live: &mut Live, chunk: &[u8]) -> Result<(), (usize, io::Error)> {
    if live.dirty {
        live.file.set_len(live.size).map_err(|err| (0, err))?;
        live.dirty = false;
    }
    let mut done = 0;
    while done < chunk.len() {
        match live.file.write(&chunk[done..]) {
            Ok(0) => return Err(cut(live, chunk, done, io::ErrorKind::WriteZero.into())),
            Ok(n) => done += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(cut(live, chunk, done, err)),
        }
    }
    live.size += chunk.len() as u64;
    Ok(())
}

fn cut(live: &mut Live, chunk: &[u8], done: usize, err: io::Error) -> (usize, io::Error) {
    let kept = chunk[..done]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    live.size += kept as u64;
    // If even the cut fails, the next write retries it before writing.
    live.dirty = done > kept && live.file.set_len(live.size).is_err();
    (kept, err)
}

fn newlines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

#[cfg(test)]
mod tests;
