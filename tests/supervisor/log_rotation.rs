//! Rotation end to end: two workers printing a million lines each as fast
//! as they can while the files rotate every few hundred KB and rotated
//! files are gzipped: every line is found exactly once, whole, in order,
//! or counted as dropped; and retention keeps only the newest files.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::helper::Corral;

/// An app of `instances` workers that each print `lines` numbered lines at
/// start, into files rotated at `max_size`, keeping `retain`.
fn printing(instances: usize, lines: u64, max_size: &str, retain: u32) -> String {
    format!(
        r#"
[[apps]]
name = "api"
command = "{{worker}}"
instances = {instances}
listen = ["127.0.0.1:0"]
wait_ready = true
[apps.env]
TW_PRINT_LINES = "{lines}"
[apps.logs]
max_size = "{max_size}"
retain = {retain}
compress = true
"#
    )
}

/// Waits until every worker said it printed all its lines, then stops the
/// supervisor, which writes what it still holds before it exits.
fn print_and_stop(corral: &mut Corral, instances: usize) {
    let err = corral.dir().join("logs/api-error.log");
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::read_to_string(&err)
        .unwrap_or_default()
        .matches("test-worker printed lines=")
        .count()
        < instances
    {
        assert!(
            Instant::now() < deadline,
            "the workers never finished printing"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    corral.signal(Signal::SIGTERM);
    assert!(corral.wait_exit(Duration::from_secs(30)).success());
}

/// The out files, oldest first: the rotated ones (their names sort by age),
/// then the live one.
fn out_files(logs: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<PathBuf> = std::fs::read_dir(logs)
        .expect("log dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.starts_with("api-out.") && name != "api-out.log"
        })
        .collect();
    rotated.sort();
    rotated.push(logs.join("api-out.log"));
    rotated
}

fn read(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if path.extension().is_some_and(|e| e == "gz") {
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        text
    } else {
        String::from_utf8(bytes).expect("utf-8")
    }
}

/// `(pid, n)` of a stamped `worker=<i> pid=<pid> line=<n>` line.
fn numbered(line: &str) -> Option<(u32, u64)> {
    let rest = &line[line.find("worker=")?..];
    let pid = rest
        .split(" pid=")
        .nth(1)?
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    let n = rest.rsplit("line=").next()?.parse().ok()?;
    Some((pid, n))
}

/// Lines the supervisor said it dropped from the app's stdout.
fn dropped(corral: &Corral) -> u64 {
    corral
        .events("log lines dropped")
        .iter()
        .filter(|e| e["app"] == "api" && e["stream"] == "out")
        .filter_map(|e| e["total"].as_u64())
        .max()
        .unwrap_or(0)
}

#[test]
fn a_million_lines_from_each_of_two_workers_land_exactly_once_across_rotated_gzipped_files() {
    const LINES: u64 = 1_000_000;
    let mut corral = Corral::start(&printing(2, LINES, "300K", 10_000));
    corral.wait_online();
    print_and_stop(&mut corral, 2);

    let files = out_files(&corral.dir().join("logs"));
    assert!(files.len() > 100, "rotated {} times", files.len() - 1);
    let mut next: HashMap<u32, u64> = HashMap::new();
    let mut found = 0u64;
    for file in &files {
        let text = read(file);
        let is_live = file.ends_with("api-out.log");
        if !is_live {
            assert!(
                text.len() <= 300 * 1024,
                "{} holds {} bytes",
                file.display(),
                text.len()
            );
        }
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "{}: half a line",
            file.display()
        );
        for line in text.lines().filter(|l| l.contains("worker=")) {
            let (pid, n) = numbered(line).unwrap_or_else(|| panic!("a broken line: {line:?}"));
            let expected = next.entry(pid).or_default();
            assert!(
                n >= *expected,
                "pid {pid}: line {n} after line {}",
                *expected - 1
            );
            *expected = n + 1;
            found += 1;
        }
    }
    assert_eq!(next.len(), 2, "both workers' lines: {next:?}");
    let dropped = dropped(&corral);
    assert_eq!(
        found + dropped,
        2 * LINES,
        "{found} lines found, {dropped} counted as dropped"
    );
    let gzipped = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "gz"))
        .count();
    assert!(gzipped > 0, "no rotated file was compressed");
    eprintln!(
        "{} files ({gzipped} gzipped), {found} lines found, {dropped} dropped",
        files.len()
    );
}

#[test]
fn retention_keeps_the_newest_rotated_files_and_they_hold_the_latest_lines() {
    const LINES: u64 = 100_000;
    let mut corral = Corral::start(&printing(1, LINES, "64K", 3));
    corral.wait_online();
    print_and_stop(&mut corral, 1);

    let files = out_files(&corral.dir().join("logs"));
    assert_eq!(
        files.len(),
        4,
        "3 rotated files and the live one: {files:?}"
    );
    let numbers: Vec<u64> = files
        .iter()
        .flat_map(|f| {
            read(f)
                .lines()
                .filter_map(|l| numbered(l).map(|(_, n)| n))
                .collect::<Vec<_>>()
        })
        .collect();
    let last = *numbers.last().expect("lines");
    assert_eq!(last, LINES - 1, "the live file ends with the last line");
    let first = numbers[0];
    if dropped(&corral) == 0 {
        let expected: Vec<u64> = (first..LINES).collect();
        assert_eq!(
            numbers, expected,
            "the kept files hold the latest lines in order"
        );
    }
}
