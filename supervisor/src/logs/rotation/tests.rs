use super::*;

fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Local> {
    let naive = chrono::NaiveDate::from_ymd_opt(y, mo, d)
        .and_then(|date| date.and_hms_opt(h, mi, s))
        .expect("a valid date");
    Local
        .from_local_datetime(&naive)
        .earliest()
        .expect("a local time")
}

fn by_size(max: u64) -> Rotation {
    Rotation {
        max_size: Some(max),
        interval: None,
        retain: 1,
        compress: false,
    }
}

#[test]
fn a_batch_that_fits_goes_in_whole() {
    assert_eq!(by_size(10).portion(2, b"abc\nde\n"), 7);
    let unlimited = Rotation {
        max_size: None,
        ..by_size(0)
    };
    assert_eq!(unlimited.portion(u64::MAX / 2, b"abc\n"), 4);
}

#[test]
fn rotates_before_the_line_that_would_overflow() {
    // 4 + 4 = 8 fits in 9; the third line would make 12.
    assert_eq!(by_size(9).portion(0, b"abc\ndef\nghi\n"), 8);
    assert_eq!(by_size(9).portion(6, b"abc\ndef\n"), 0);
}

#[test]
fn a_line_longer_than_max_size_gets_a_file_of_its_own() {
    let rotation = by_size(3);
    assert_eq!(rotation.portion(0, b"abcdefgh\nx\n"), 9);
    assert_eq!(rotation.portion(9, b"x\n"), 0);
    assert_eq!(rotation.portion(1, b"abcdefgh\n"), 0);
}

#[test]
fn hours_and_days_start_on_the_local_clock() {
    let t = local(2026, 11, 29, 15, 45, 10);
    assert_eq!(
        next_boundary(RotateInterval::Hourly, t),
        local(2026, 11, 29, 16, 0, 0)
    );
    assert_eq!(
        next_boundary(RotateInterval::Daily, t),
        local(2026, 11, 30, 0, 0, 0)
    );
    let late = local(2026, 12, 31, 23, 0, 0);
    assert_eq!(
        next_boundary(RotateInterval::Hourly, late),
        local(2027, 1, 1, 0, 0, 0)
    );
    assert_eq!(
        next_boundary(RotateInterval::Daily, late),
        local(2027, 1, 1, 0, 0, 0)
    );
    // A boundary is never the instant itself: a file opened at 16:00 lasts the hour.
    let on_the_hour = local(2026, 11, 29, 16, 0, 0);
    assert_eq!(
        next_boundary(RotateInterval::Hourly, on_the_hour),
        local(2026, 11, 29, 17, 0, 0)
    );
}

#[test]
fn names_sort_by_age_even_within_a_millisecond_or_when_the_clock_steps_back() {
    let names = Names::new(Path::new("/var/log/api-out.log"));
    let t = local(2026, 11, 29, 15, 45, 0);
    let times = [t, t, t, t - TimeDelta::hours(3), t + TimeDelta::seconds(1)];
    let mut newest = None;
    let mut made = Vec::new();
    for now in times {
        let stamp = Stamp::after(now, newest);
        newest = Some(stamp);
        made.push(names.path(stamp, Form::Plain));
    }
    let mut sorted = made.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, made, "unique and in order of rotation");
    let first = made[0].file_name().unwrap().to_str().unwrap();
    let utc = t.with_timezone(&Utc).format("%Y-%m-%dT%H-%M-%S");
    assert_eq!(first, format!("api-out.{utc}.000Z.log"));
}

#[test]
fn parses_its_own_rotated_files_in_every_form_and_nothing_else() {
    let names = Names::new(Path::new("logs/api-out.log"));
    assert_eq!(names.dir(), Path::new("logs"));
    let stamp = Stamp::after(local(2026, 11, 29, 15, 45, 0), None);
    for form in [Form::Plain, Form::Gzip, Form::Partial] {
        let path = names.path(stamp, form);
        let file = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(names.parse(file), Some((stamp, form)), "{file}");
    }
    let plain = names.path(stamp, Form::Plain);
    assert_eq!(gzip_path(&plain), names.path(stamp, Form::Gzip));
    assert_eq!(partial_path(&plain), names.path(stamp, Form::Partial));
    for other in [
        "api-out.log",
        "api-out-2.2026-11-29T15-45-00.000Z.log",
        "api-out.2026-11-29T15-45-00.000Z.txt",
        "api-out.2026-11-29T15-45-00.000Z.log.zst",
        "api-out.2026-11-29T15-45-00.0Z.log",
        "api-out.2026-13-29T15-45-00.000Z.log",
        "api-out.2026-11-29T15-45-00.000Z.logx",
    ] {
        assert_eq!(names.parse(other), None, "{other}");
    }
}

#[test]
fn a_live_file_without_extension_gets_the_stamp_at_the_end() {
    let names = Names::new(Path::new("api"));
    let stamp = Stamp::after(local(2026, 11, 29, 15, 45, 0), None);
    let path = names.path(stamp, Form::Gzip);
    let file = path.to_str().unwrap();
    assert!(
        file.starts_with("api.2026-11-29T") && file.ends_with("Z.gz"),
        "{file}"
    );
    assert_eq!(names.parse(file), Some((stamp, Form::Gzip)));
}
