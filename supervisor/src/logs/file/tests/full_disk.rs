//! A full disk: lines are dropped and counted, never half written, and
//! writing resumes by itself when space returns.
//!
//! As root the disk is a real 64 KiB tmpfs mounted for the test (and
//! unmounted even if it fails), so short writes and the cut back to the
//! last whole line really happen. Otherwise `/dev/full` stands in: it shows
//! the drop accounting, but a device cannot be truncated, rotated or freed.

use std::process::Command;

use super::*;

/// A tmpfs mounted on a folder for the life of the value.
struct Tmpfs<'a>(&'a Path);

impl<'a> Tmpfs<'a> {
    fn mount(dir: &'a Path) -> Self {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "cannot mount a tmpfs on {}",
            dir.display()
        );
        Self(dir)
    }
}

impl Drop for Tmpfs<'_> {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(self.0).status();
        if !unmounted.is_ok_and(|s| s.success()) {
            // Still busy (a file left open by a failed assertion): detach it.
            let _ = Command::new("umount").arg("-l").arg(self.0).status();
        }
    }
}

/// Lines of exactly 100 bytes, numbered, so any fragment shows.
fn hundreds(first: usize, n: usize) -> Vec<u8> {
    let text = (first..first + n).flat_map(|i| format!("{i:>99}\n").into_bytes());
    text.collect()
}

#[test]
fn lines_are_dropped_whole_on_a_full_disk_and_writing_resumes() {
    if !nix::unistd::geteuid().is_root() {
        return dev_full_drops_and_counts();
    }
    let dir = tempfile::tempdir().unwrap();
    let _tmpfs = Tmpfs::mount(dir.path());
    let ballast = dir.path().join("ballast");
    fs::write(&ballast, vec![0u8; 32 * 1024]).unwrap();
    let live = dir.path().join("api-out.log");
    let mut file = RotatingFile::new(live.clone(), plain(5), Compressor::start().unwrap());

    // Batches of 37 lines (3,700 bytes): the disk fills in the middle of one.
    let (mut next, mut written, mut dropped) = (0, 0, 0);
    let mut error = None;
    for _ in 0..20 {
        let result = file.write(&hundreds(next, 37), 37, at(0));
        assert_eq!(result.lines + result.dropped, 37);
        if result.dropped > 0 && result.lines > 0 {
            assert_eq!(fs::metadata(&live).unwrap().len() % 100, 0, "no fragment");
        }
        next += 37;
        (written, dropped) = (written + result.lines, dropped + result.dropped);
        error = error.or(result.error);
    }
    assert!(
        dropped > 37 && written > 0,
        "the disk filled: {written} written"
    );
    assert_eq!(error.unwrap().kind(), io::ErrorKind::StorageFull);
    assert_eq!(
        fs::read(&live).unwrap(),
        hundreds(0, written),
        "whole lines, in order"
    );

    fs::remove_file(&ballast).unwrap();
    let result = file.write(&hundreds(next, 37), 37, at(1));
    assert_eq!(
        (result.lines, result.dropped),
        (37, 0),
        "{:?}",
        result.error
    );
    let mut expected = hundreds(0, written);
    expected.extend(hundreds(next, 37));
    assert_eq!(
        fs::read(&live).unwrap(),
        expected,
        "resumed, not glued to a fragment"
    );
    drop(file);
}

fn dev_full_drops_and_counts() {
    eprintln!("not root: /dev/full stands in for a full disk (no resume check)");
    let mut file = RotatingFile::new("/dev/full".into(), plain(5), Compressor::start().unwrap());
    for second in 0..3 {
        let result = file.write(&hundreds(0, 10), 10, at(second));
        assert_eq!((result.lines, result.dropped), (0, 10));
        assert_eq!(result.error.unwrap().kind(), io::ErrorKind::StorageFull);
    }
}
