//! The pure decisions of log rotation: when a live file must rotate, and
//! what its rotated copies are called.
//!
//! Naming: the live `api-out.log` is renamed to
//! `api-out.2026-11-29T15-45-00.123Z.log` (and gzipped to `....log.gz`). The
//! stamp is the rotation time in UTC, to the millisecond, so names sort by
//! age as plain strings (`ls` shows them oldest first, the live file last)
//! even across a daylight-saving change. When two rotations fall in the same
//! millisecond, or the clock steps back, the stamp is moved one millisecond
//! past the newest existing one, so every name is unique and later than the
//! one before: a number never needs to be parsed to order the files.

use std::path::{Path, PathBuf};

use chrono::{
    DateTime, Local, LocalResult, NaiveDateTime, NaiveTime, SubsecRound, TimeDelta, TimeZone,
    Timelike, Utc,
};

use crate::config::{RotateInterval, Rotation};

impl Rotation {
    /// How many leading bytes of `lines` (whole lines) still go into a file
    /// that holds `size` bytes; 0 means rotate first. A file always takes
    /// its first line, so a line longer than `max_size` gets a file of its
    /// own instead of being lost or split.
    pub(crate) fn portion(&self, size: u64, lines: &[u8]) -> usize {
        let Some(max) = self.max_size else {
            return lines.len();
        };
        if size + lines.len() as u64 <= max {
            return lines.len();
        }
        let (mut size, mut end) = (size, 0);
        for line in lines.split_inclusive(|&b| b == b'\n') {
            let len = line.len() as u64;
            if size > 0 && size + len > max {
                break;
            }
            size += len;
            end += line.len();
        }
        end
    }

    /// When a file last written at `since` is rotated on the clock: the
    /// first write at or after this instant rotates it first.
    pub(crate) fn deadline(&self, since: DateTime<Local>) -> Option<DateTime<Local>> {
        self.interval.map(|interval| next_boundary(interval, since))
    }
}

/// The start of the local hour or day after `t`. A local time skipped by a
/// daylight-saving change moves to the first one that exists; one that
/// occurs twice is taken the first time.
pub(crate) fn next_boundary(interval: RotateInterval, t: DateTime<Local>) -> DateTime<Local> {
    let naive = t.naive_local();
    let mut start = match interval {
        RotateInterval::Hourly => {
            naive.date().and_time(NaiveTime::MIN) + TimeDelta::hours(i64::from(naive.hour()) + 1)
        }
        RotateInterval::Daily => naive.date().and_time(NaiveTime::MIN) + TimeDelta::days(1),
    };
    for _ in 0..24 * 4 {
        match Local.from_local_datetime(&start) {
            LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => return at,
            LocalResult::None => start += TimeDelta::minutes(15),
        }
    }
    t + TimeDelta::hours(1)
}

/// The time in a rotated file's name: UTC, to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp(NaiveDateTime);

const STAMP: &str = "%Y-%m-%dT%H-%M-%S%.3fZ";
const STAMP_LEN: usize = "2026-11-29T15-45-00.123Z".len();

impl Stamp {
    /// The stamp of a rotation at `now`, strictly after `newest` (the
    /// newest rotated file), so names stay unique and in order.
    pub fn after(now: DateTime<Local>, newest: Option<Stamp>) -> Self {
        let at = now.with_timezone(&Utc).naive_utc().trunc_subsecs(3);
        match newest {
            Some(Stamp(last)) if at <= last => Self(last + TimeDelta::milliseconds(1)),
            _ => Self(at),
        }
    }

    fn parse(text: &str) -> Option<Self> {
        let at = NaiveDateTime::parse_from_str(text, STAMP).ok()?;
        (at.format(STAMP).to_string() == text).then_some(Self(at))
    }
}

/// Which of the forms of one rotated file a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// `api-out.<stamp>.log`: as rotated.
    Plain,
    /// `api-out.<stamp>.log.gz`: compressed.
    Gzip,
    /// `api-out.<stamp>.log.gz.tmp`: a compression not finished.
    Partial,
}

impl Form {
    fn suffix(self) -> &'static str {
        match self {
            Form::Plain => "",
            Form::Gzip => ".gz",
            Form::Partial => ".gz.tmp",
        }
    }
}

/// The names of one live file's rotated copies: the live file's stem and
/// extension around a stamp, in the live file's folder.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    dir: PathBuf,
    stem: String,
    ext: String,
}

impl Names {
    /// The scheme for the live file at `live`.
    pub fn new(live: &Path) -> Self {
        let text = |s: Option<&std::ffi::OsStr>| s.map(|s| s.to_string_lossy().into_owned());
        Self {
            dir: live.parent().map(Path::to_path_buf).unwrap_or_default(),
            stem: text(live.file_stem()).unwrap_or_default(),
            ext: text(live.extension())
                .map(|e| format!(".{e}"))
                .unwrap_or_default(),
        }
    }

    /// The folder that holds the live file and its rotated copies.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of a rotated copy in the given form.
    pub fn path(&self, stamp: Stamp, form: Form) -> PathBuf {
        let (stem, ext, stamp) = (&self.stem, &self.ext, stamp.0.format(STAMP));
        let plain = self.dir.join(format!("{stem}.{stamp}{ext}"));
        suffixed(&plain, form.suffix())
    }

    /// The stamp and form of `file_name` if it is one of this live file's
    /// rotated copies (and not another app's file that shares a prefix).
    pub fn parse(&self, file_name: &str) -> Option<(Stamp, Form)> {
        let rest = file_name.strip_prefix(&self.stem)?.strip_prefix('.')?;
        let stamp = Stamp::parse(rest.get(..STAMP_LEN)?)?;
        let suffix = rest[STAMP_LEN..].strip_prefix(self.ext.as_str())?;
        let form = [Form::Plain, Form::Gzip, Form::Partial]
            .into_iter()
            .find(|form| form.suffix() == suffix)?;
        Some((stamp, form))
    }
}

/// The gzipped name of a rotated file: `<name>.gz`.
pub(crate) fn gzip_path(plain: &Path) -> PathBuf {
    suffixed(plain, Form::Gzip.suffix())
}

/// Where a gzip is written before it is complete: `<name>.gz.tmp`.
pub(crate) fn partial_path(plain: &Path) -> PathBuf {
    suffixed(plain, Form::Partial.suffix())
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

#[cfg(test)]
mod tests;
