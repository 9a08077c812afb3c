//! The writer's promises under the events that break naive log writers:
//! an external `mv`, a missing folder, files of an earlier run, a file cut
//! mid-line. The full disk and the property test have modules of their own.

use std::io::Read;
use std::time::Duration;

use super::*;
use crate::config::RotateInterval;

mod full_disk;
mod properties;

/// A fixed local time plus `secs`: tests pass their own clock.
fn at(secs: i64) -> DateTime<Local> {
    let naive = chrono::NaiveDate::from_ymd_opt(2026, 6, 10)
        .and_then(|d| d.and_hms_opt(22, 30, 0))
        .expect("a valid date");
    let start = chrono::TimeZone::from_local_datetime(&Local, &naive).earliest();
    start.expect("a local time") + TimeDelta::seconds(secs)
}

fn plain(retain: u32) -> Rotation {
    Rotation {
        max_size: None,
        interval: None,
        retain,
        compress: false,
    }
}

/// `n` numbered lines from `first`, with their count.
fn numbered(first: usize, n: usize) -> (Vec<u8>, usize) {
    let text = (first..first + n).flat_map(|i| format!("line {i}\n").into_bytes());
    (text.collect(), n)
}

/// The file's bytes, gunzipped if it is a `.gz`.
fn read(path: &Path) -> Vec<u8> {
    let mut text = Vec::new();
    let mut file = File::open(path).unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(file)
            .read_to_end(&mut text)
            .unwrap();
    } else {
        file.read_to_end(&mut text).unwrap();
    }
    text
}

/// The names in `dir` other than `live`, sorted as `ls` sorts them.
fn rotated(dir: &Path, live: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != live)
        .collect();
    names.sort();
    names
}

fn write_all(file: &mut RotatingFile, (text, n): (Vec<u8>, usize), now: DateTime<Local>) {
    let written = file.write(&text, n, now);
    assert_eq!(
        (written.lines, written.dropped),
        (n, 0),
        "{:?}",
        written.error
    );
}

#[test]
fn after_an_external_mv_and_reopen_new_lines_go_to_the_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("api-out.log");
    let moved = dir.path().join("api-out.log.1");
    let mut file = RotatingFile::new(live.clone(), plain(5), Compressor::start().unwrap());
    write_all(&mut file, numbered(0, 3), at(0));
    fs::rename(&live, &moved).unwrap();
    // Until told, the writer still holds the moved file: nothing is lost.
    write_all(&mut file, numbered(3, 2), at(1));
    file.reopen();
    write_all(&mut file, numbered(5, 2), at(2));
    assert_eq!(fs::read(&moved).unwrap(), numbered(0, 5).0);
    assert_eq!(fs::read(&live).unwrap(), numbered(5, 2).0);
}

#[test]
fn a_missing_folder_is_tried_again_at_most_once_a_second() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the folder should be: creating the folder fails.
    let blocker = dir.path().join("logs");
    fs::write(&blocker, b"").unwrap();
    let live = blocker.join("api-out.log");
    let mut file = RotatingFile::new(live.clone(), plain(5), Compressor::start().unwrap());
    let first = file.write(&numbered(0, 3).0, 3, at(0));
    assert_eq!((first.lines, first.dropped), (0, 3));
    let err = first.error.expect("the failed open is reported");
    assert!(err.to_string().contains("api-out.log"), "{err}");

    fs::remove_file(&blocker).unwrap();
    let soon = file.write(&numbered(3, 2).0, 2, at(0) + TimeDelta::milliseconds(999));
    assert_eq!((soon.lines, soon.dropped), (0, 2));
    assert!(soon.error.is_none(), "no second attempt within a second");
    assert!(!blocker.exists(), "no create_dir_all within a second");

    write_all(&mut file, numbered(5, 2), at(1));
    assert_eq!(fs::read(&live).unwrap(), numbered(5, 2).0);
}

#[test]
fn rotated_files_of_an_earlier_run_count_for_retention() {
    let dir = tempfile::tempdir().unwrap();
    let old = |day: u32, suffix: &str| format!("api-out.2026-06-0{day}T10-00-00.000Z.log{suffix}");
    for (day, suffix) in [(1, ""), (2, ".gz"), (3, ""), (3, ".gz.tmp"), (4, "")] {
        fs::write(dir.path().join(old(day, suffix)), format!("day {day}\n")).unwrap();
    }
    fs::write(
        dir.path().join("api-error.2026-06-01T10-00-00.000Z.log"),
        "other\n",
    )
    .unwrap();
    let rotation = Rotation {
        max_size: Some(10),
        compress: true,
        ..plain(2)
    };
    let compressor = Compressor::start().unwrap();
    let mut file = RotatingFile::new(dir.path().join("api-out.log"), rotation, compressor.clone());
    // Opening lists them: 2 kept, the unfinished gzip removed, the rest compressed.
    write_all(&mut file, numbered(0, 1), at(0));
    assert!(compressor.flush(Duration::from_secs(10)));
    let kept = [old(3, ".gz"), old(4, ".gz")];
    let others = ["api-error.2026-06-01T10-00-00.000Z.log".to_string()];
    let expected: Vec<String> = others.iter().chain(&kept).cloned().collect();
    assert_eq!(rotated(dir.path(), "api-out.log"), expected);
    assert_eq!(read(&dir.path().join(&kept[1])), b"day 4\n");

    // One rotation later, the oldest goes and the new one is the newest.
    write_all(&mut file, numbered(1, 1), at(1));
    assert!(compressor.flush(Duration::from_secs(10)));
    let names = rotated(dir.path(), "api-out.log");
    assert_eq!(names.len(), 3);
    assert_eq!(names[1], kept[1]);
    assert_eq!(read(&dir.path().join(&names[2])), numbered(0, 1).0);
}

#[test]
fn a_file_left_with_half_a_line_is_never_glued_to() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("api-out.log");
    fs::write(&live, b"whole\nhalf a li").unwrap();
    let mut file = RotatingFile::new(live.clone(), plain(5), Compressor::start().unwrap());
    write_all(&mut file, numbered(0, 1), at(0));
    assert_eq!(fs::read(&live).unwrap(), b"whole\nhalf a li\nline 0\n");
}

#[test]
fn a_file_kept_from_an_earlier_day_rotates_at_its_first_write() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("api-out.log");
    fs::write(&live, b"yesterday\n").unwrap();
    let now = Local::now();
    let yesterday = now - TimeDelta::days(1);
    File::options()
        .write(true)
        .open(&live)
        .unwrap()
        .set_modified(yesterday.into())
        .unwrap();
    let rotation = Rotation {
        interval: Some(RotateInterval::Daily),
        ..plain(5)
    };
    let mut file = RotatingFile::new(live.clone(), rotation, Compressor::start().unwrap());
    write_all(&mut file, numbered(0, 1), now);
    let names = rotated(dir.path(), "api-out.log");
    assert_eq!(names.len(), 1);
    assert_eq!(read(&dir.path().join(&names[0])), b"yesterday\n");
    assert_eq!(fs::read(&live).unwrap(), numbered(0, 1).0);
}
