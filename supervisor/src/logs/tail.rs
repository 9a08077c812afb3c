//! The last lines of a log file, reaching into its rotated (and gzipped)
//! copies when the live file holds fewer: what `corral logs` prints first.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::rotation::{Form, Names};

/// How much of the live file's end is read at a time.
const BLOCK: u64 = 64 * 1024;

/// The last `n` whole lines of the file at `live` and, if it holds fewer,
/// of its newest rotated copies, oldest first, each ending in `\n`.
pub(super) fn last_lines(live: &Path, n: usize) -> Vec<u8> {
    if n == 0 {
        return Vec::new();
    }
    let mut pieces = vec![live_tail(live, n).unwrap_or_default()];
    let mut found = count(&pieces[0]);
    for rotated in rotated_newest_first(live) {
        if found >= n {
            break;
        }
        let lines = rotated_tail(&rotated, n - found).unwrap_or_default();
        found += count(&lines);
        pieces.push(lines);
    }
    pieces.reverse();
    pieces.concat()
}

fn count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// The last `n` complete lines of a file that is being appended to, read
/// backwards from its end.
fn live_tail(path: &Path, n: usize) -> io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut start = len;
    let mut tail = Vec::new();
    while start > 0 && count(&tail) <= n {
        let from = start.saturating_sub(BLOCK);
        let mut block = vec![0; (start - from) as usize];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut block)?;
        block.extend_from_slice(&tail);
        tail = block;
        start = from;
    }
    // Only whole lines: drop a last line still being written, and keep the
    // last `n` of the rest.
    if let Some(end) = tail.iter().rposition(|&b| b == b'\n') {
        tail.truncate(end + 1);
    } else {
        tail.clear();
    }
    let newlines: Vec<usize> = tail
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i)
        .collect();
    if newlines.len() > n {
        let cut = newlines[newlines.len() - n - 1] + 1;
        tail.drain(..cut);
    }
    Ok(tail)
}

/// The rotated copies of `live` (plain or gzipped), newest first.
fn rotated_newest_first(live: &Path) -> Vec<PathBuf> {
    let names = Names::new(live);
    let Ok(entries) = std::fs::read_dir(names.dir()) else {
        return Vec::new();
    };
    let mut rotated: Vec<PathBuf> = entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let parsed = names.parse(&name.to_string_lossy());
            matches!(parsed, Some((_, Form::Plain | Form::Gzip)))
        })
        .map(|entry| entry.path())
        .collect();
    // The names sort by age; a file both plain and gzipped (compression
    // finishing right now) is read once, plain.
    rotated.sort();
    rotated.dedup_by(|gz, plain| gz.to_string_lossy() == format!("{}.gz", plain.to_string_lossy()));
    rotated.reverse();
    rotated
}

/// The last `n` lines of a rotated copy, read through (it is complete).
fn rotated_tail(path: &Path, n: usize) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut kept: VecDeque<Vec<u8>> = VecDeque::with_capacity(n);
    for line in BufReader::new(reader).split(b'\n') {
        let mut line = line?;
        line.push(b'\n');
        if kept.len() == n {
            kept.pop_front();
        }
        kept.push_back(line);
    }
    Ok(kept.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn lines(range: std::ops::Range<u32>) -> Vec<u8> {
        range
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect()
    }

    #[test]
    fn reads_back_across_the_live_file_and_its_rotated_copies() {
        let dir = tempfile::tempdir().expect("temp dir");
        let live = dir.path().join("api-out.log");
        std::fs::write(
            dir.path().join("api-out.2026-11-29T10-00-00.000Z.log"),
            lines(0..100),
        )
        .expect("oldest");
        let gz =
            File::create(dir.path().join("api-out.2026-11-29T11-00-00.000Z.log.gz")).expect("gz");
        let mut encoder = flate2::write::GzEncoder::new(gz, flate2::Compression::fast());
        encoder.write_all(&lines(100..200)).expect("gzip");
        encoder.finish().expect("gzip");
        let mut text = lines(200..210);
        text.extend_from_slice(b"half a li");
        std::fs::write(&live, text).expect("live");
        // Another app's file with the same prefix is not read.
        std::fs::write(dir.path().join("api-out-2.log"), b"other\n").expect("other");

        assert_eq!(last_lines(&live, 5), lines(205..210));
        assert_eq!(last_lines(&live, 30), lines(180..210));
        assert_eq!(last_lines(&live, 150), lines(60..210));
        assert_eq!(last_lines(&live, 1000), lines(0..210));
        assert!(last_lines(&live, 0).is_empty());
        assert!(last_lines(&dir.path().join("missing.log"), 5).is_empty());
    }

    #[test]
    fn a_long_live_file_is_read_from_its_end_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let live = dir.path().join("api-out.log");
        std::fs::write(&live, lines(0..50_000)).expect("live");
        assert_eq!(last_lines(&live, 3), lines(49_997..50_000));
    }
}
