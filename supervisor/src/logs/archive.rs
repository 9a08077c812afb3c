//! The rotated copies of one live file: the move of the live file into
//! them, and the retention that deletes the oldest beyond `retain`.
//!
//! The copies are known in memory, oldest first, after one listing of the
//! folder (at the first open, or the first rotation if that listing
//! failed), so those left by an earlier run count too and a rotation costs
//! a rename, not a scan. A copy counts once whatever its forms (`.log`,
//! `.log.gz`): deleting it deletes them all.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::io;
use std::path::Path;

use chrono::{DateTime, Local};

use super::compress::Compressor;
use super::rotation::{Form, Names, Stamp};
use crate::config::Rotation;

/// The rotated copies of one live file and how many of them to keep.
pub(crate) struct Archive {
    names: Names,
    retain: usize,
    compress: bool,
    known: VecDeque<Stamp>,
    listed: bool,
}

impl Archive {
    /// The archive of the live file at `live`; nothing is read yet.
    pub fn new(live: &Path, rotation: &Rotation) -> Self {
        Self {
            names: Names::new(live),
            retain: rotation.retain as usize,
            compress: rotation.compress,
            known: VecDeque::new(),
            listed: false,
        }
    }

    /// Lists the copies already in the folder, once: removes unfinished
    /// gzips (their compressor died with an earlier run), queues copies an
    /// earlier run did not get to compress, and applies retention.
    pub fn list(&mut self, compressor: &Compressor, note: &mut impl FnMut(io::Error)) {
        if self.listed {
            return;
        }
        let dir = match self.names.dir() {
            dir if dir.as_os_str().is_empty() => Path::new("."),
            dir => dir,
        };
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(err) => return note(failed(err, format_args!("cannot list {}", dir.display()))),
        };
        let mut found: BTreeMap<Stamp, Vec<Form>> = BTreeMap::new();
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            if let Some((stamp, form)) = name.to_str().and_then(|n| self.names.parse(n)) {
                found.entry(stamp).or_default().push(form);
            }
        }
        let mut uncompressed = Vec::new();
        for (&stamp, forms) in &found {
            if forms.contains(&Form::Partial) {
                remove(&self.names.path(stamp, Form::Partial), note);
            }
            if forms.contains(&Form::Plain) && !forms.contains(&Form::Gzip) {
                uncompressed.push(stamp);
            }
        }
        let this_run = std::mem::take(&mut self.known);
        let all: BTreeSet<Stamp> = found.into_keys().chain(this_run).collect();
        self.known = all.into_iter().collect();
        self.listed = true;
        self.trim(note);
        if self.compress {
            for stamp in uncompressed.into_iter().filter(|s| self.known.contains(s)) {
                compressor.gzip(self.names.path(stamp, Form::Plain));
            }
        }
    }

    /// Renames the live file to the next rotated name, then deletes the
    /// copies beyond `retain` and queues the new one for compression if it
    /// is kept. Only the rename's error is returned: after it the rotation
    /// happened, whatever retention then meets, which goes to `note`.
    pub fn rotate(
        &mut self,
        live: &Path,
        now: DateTime<Local>,
        compressor: &Compressor,
        note: &mut impl FnMut(io::Error),
    ) -> io::Result<()> {
        self.list(compressor, note);
        let stamp = Stamp::after(now, self.known.back().copied());
        let rotated = self.names.path(stamp, Form::Plain);
        fs::rename(live, &rotated).map_err(|err| {
            let (from, to) = (live.display(), rotated.display());
            failed(err, format_args!("cannot rotate {from} to {to}"))
        })?;
        self.known.push_back(stamp);
        self.trim(note);
        if self.compress && self.known.back() == Some(&stamp) {
            compressor.gzip(rotated);
        }
        Ok(())
    }

    fn trim(&mut self, note: &mut impl FnMut(io::Error)) {
        while self.known.len() > self.retain {
            let Some(oldest) = self.known.pop_front() else {
                break;
            };
            for form in [Form::Plain, Form::Gzip, Form::Partial] {
                remove(&self.names.path(oldest, form), note);
            }
        }
    }
}

fn remove(path: &Path, note: &mut impl FnMut(io::Error)) {
    match fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => note(failed(
            err,
            format_args!("cannot delete old log {}", path.display()),
        )),
        _ => {}
    }
}

/// `err` with what was being done, on what, in front; its kind is kept so
/// that callers can still tell a missing file from a full disk.
pub(crate) fn failed(err: io::Error, what: std::fmt::Arguments) -> io::Error {
    io::Error::new(err.kind(), format!("{what}: {err}"))
}
