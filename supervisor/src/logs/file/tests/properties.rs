//! For any lines and any rotation points, the files hold exactly the lines
//! written: whole, in order, none lost or repeated, and retention keeps
//! exactly the newest rotated files.
//!
//! A model splits the same lines into files by the rules as the docs state
//! them (rotate before a line that would pass `max_size` unless the file is
//! empty; rotate when the line's local hour or day is not the one of the
//! file's first line); the files on disk must be the model's, byte for byte.

use chrono::Timelike;
use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum Step {
    /// One write of lines of these lengths (without their `\n`).
    Lines(Vec<usize>),
    /// The clock moves on by this many seconds.
    Wait(i64),
    /// The clock moves to this many seconds around the next local hour
    /// (or midnight), where an off-by-one in the interval rule would show.
    Cross { midnight: bool, offset: i64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => proptest::collection::vec(0usize..120, 1..8).prop_map(Step::Lines),
        1 => prop_oneof![1i64..120, 1i64..20_000].prop_map(Step::Wait),
        1 => (any::<bool>(), -1i64..=1).prop_map(|(midnight, offset)| Step::Cross { midnight, offset }),
    ]
}

fn rotation() -> impl Strategy<Value = Rotation> {
    let interval = proptest::option::of(prop_oneof![
        Just(RotateInterval::Hourly),
        Just(RotateInterval::Daily)
    ]);
    let retain = prop_oneof![Just(10_000u32), 0u32..4];
    (
        proptest::option::of(1u64..300),
        interval,
        retain,
        any::<bool>(),
    )
        .prop_map(|(max_size, interval, retain, compress)| Rotation {
            max_size,
            interval,
            retain,
            compress,
        })
}

/// The files the rules make of the lines: rotated ones, oldest first, and
/// the live one.
#[derive(Default)]
struct Model {
    rotated: Vec<Vec<u8>>,
    live: Vec<u8>,
    period: String,
}

impl Model {
    fn add(&mut self, rotation: &Rotation, line: &[u8], now: DateTime<Local>) {
        let period = match rotation.interval {
            Some(RotateInterval::Hourly) => now.format("%F %H").to_string(),
            Some(RotateInterval::Daily) => now.format("%F").to_string(),
            None => String::new(),
        };
        let full = rotation
            .max_size
            .is_some_and(|max| self.live.len() + line.len() > max as usize);
        if !self.live.is_empty() && (full || period != self.period) {
            self.rotated.push(std::mem::take(&mut self.live));
        }
        if self.live.is_empty() {
            self.period = period;
        }
        self.live.extend_from_slice(line);
    }
}

/// The clock at `offset` seconds from the start of the next local hour or
/// day, never going back.
fn cross(now: DateTime<Local>, midnight: bool, offset: i64) -> DateTime<Local> {
    let naive = now.naive_local();
    let hour = naive.date().and_hms_opt(naive.hour(), 0, 0).unwrap() + TimeDelta::hours(1);
    let start = if midnight {
        naive.date().and_hms_opt(0, 0, 0).unwrap() + TimeDelta::days(1)
    } else {
        hour
    };
    let boundary = chrono::TimeZone::from_local_datetime(&Local, &start)
        .earliest()
        .unwrap();
    now.max(boundary + TimeDelta::seconds(offset))
}

fn line(number: usize, len: usize) -> Vec<u8> {
    let mut line: Vec<u8> = format!("{number}:").bytes().cycle().take(len).collect();
    line.push(b'\n');
    line
}

proptest! {
    #[test]
    fn rotated_files_then_the_live_one_hold_exactly_the_lines_written(
        rotation in rotation(),
        steps in proptest::collection::vec(step(), 1..30),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let compressor = Compressor::start().unwrap();
        let mut file = RotatingFile::new(dir.path().join("api-out.log"), rotation, compressor.clone());
        let (mut model, mut all, mut now, mut number) = (Model::default(), Vec::new(), at(0), 0);
        for step in steps {
            match step {
                Step::Wait(secs) => now += TimeDelta::seconds(secs),
                Step::Cross { midnight, offset } => now = cross(now, midnight, offset),
                Step::Lines(lengths) => {
                    let mut batch = Vec::new();
                    for len in &lengths {
                        let line = line(number, *len);
                        model.add(&rotation, &line, now);
                        batch.extend_from_slice(&line);
                        number += 1;
                    }
                    let written = file.write(&batch, lengths.len(), now);
                    prop_assert_eq!((written.lines, written.dropped), (lengths.len(), 0));
                    prop_assert!(written.error.is_none(), "{:?}", written.error);
                    all.extend(batch);
                }
            }
        }
        prop_assert!(compressor.flush(Duration::from_secs(30)));

        let names = rotated(dir.path(), "api-out.log");
        let kept = model.rotated.len().min(rotation.retain as usize);
        prop_assert_eq!(names.len(), kept, "{:?}", names);
        let gzipped = names.iter().filter(|n| n.ends_with(".log.gz")).count();
        prop_assert_eq!(gzipped, if rotation.compress { kept } else { 0 }, "{:?}", names);
        let on_disk: Vec<Vec<u8>> = names.iter().map(|n| read(&dir.path().join(n))).collect();
        prop_assert_eq!(&on_disk[..], &model.rotated[model.rotated.len() - kept..]);
        let live = fs::read(dir.path().join("api-out.log")).unwrap_or_default();
        prop_assert_eq!(&live, &model.live);
        if kept == model.rotated.len() {
            let mut found = on_disk.concat();
            found.extend(live);
            prop_assert_eq!(found, all);
        }
    }
}
