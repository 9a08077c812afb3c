//! A log folder or file that cannot be written: both verbs refuse it with
//! one sentence naming the path and the OS error, exit 2; `check` creates
//! nothing and `run` starts nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{APP, Folder, assert_started_nothing, refusal, text};

/// The folder's path as corral resolves it (the temp dir may be reached
/// through a symlink).
fn base(folder: &Folder) -> PathBuf {
    folder.path().canonicalize().expect("canonical temp dir")
}

/// Runs `check` then `run` in `folder`; both must refuse with the same
/// line, and `run` must not have started anything. Returns the line.
fn refused_in(folder: &Folder) -> String {
    let check = refusal(&folder.corral(&["check"]), "check");
    let run = refusal(&folder.corral(&["run"]), "run");
    assert_eq!(check, run, "check and run disagree");
    assert_started_nothing(folder);
    check
}

#[test]
fn a_log_dir_below_a_regular_file_is_refused() {
    let folder = Folder::with(&format!("[supervisor]\nlog_dir = \"file/logs\"\n\n{APP}"));
    folder.write("file", "not a folder");
    assert_eq!(
        refused_in(&folder),
        format!(
            "corral: cannot write logs in {}/file/logs: Not a directory (os error 20)",
            base(&folder).display()
        )
    );
}

#[test]
fn a_log_dir_that_is_a_regular_file_is_refused() {
    let folder = Folder::with(&format!("[supervisor]\nlog_dir = \"file\"\n\n{APP}"));
    folder.write("file", "not a folder");
    assert_eq!(
        refused_in(&folder),
        format!(
            "corral: cannot write logs in {}/file: Not a directory (os error 20)",
            base(&folder).display()
        )
    );
}

#[test]
fn an_absolute_log_file_below_a_regular_file_is_refused() {
    let folder = Folder::empty();
    let out = base(&folder).join("file/api.log");
    folder.write(
        "ecosystem.toml",
        &format!("{APP}[apps.logs]\nout = \"{}\"\n", out.display()),
    );
    folder.write("file", "not a folder");
    assert_eq!(
        refused_in(&folder),
        format!(
            "corral: cannot write the log file {}: Not a directory (os error 20)",
            out.display()
        )
    );
}

#[test]
fn check_accepts_a_log_dir_it_could_create_and_creates_nothing() {
    let folder = Folder::with(&format!("[supervisor]\nlog_dir = \"a/b/logs\"\n\n{APP}"));
    folder.check_ok(&[]);
    assert!(!folder.path().join("a").exists(), "check created a folder");
}

/// A read-only tmpfs mounted for one test, unmounted when dropped.
struct ReadOnlyMount(PathBuf);

impl ReadOnlyMount {
    fn at(path: &Path) -> Self {
        std::fs::create_dir(path).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "ro,size=1m", "corral-test"])
            .arg(path)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount a read-only tmpfs on {path:?}");
        Self(path.to_owned())
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let output = Command::new("umount").arg(&self.0).output();
        if let Ok(output) = output
            && !output.status.success()
        {
            eprintln!("cannot unmount {:?}: {}", self.0, text(&output.stderr));
        }
    }
}

#[test]
fn a_log_dir_on_a_read_only_filesystem_is_refused_even_for_root() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: mounting a read-only tmpfs needs root");
        return;
    }
    let folder = Folder::with(&format!("[supervisor]\nlog_dir = \"ro/logs\"\n\n{APP}"));
    let _mount = ReadOnlyMount::at(&folder.path().join("ro"));
    assert_eq!(
        refused_in(&folder),
        format!(
            "corral: cannot write logs in {}/ro/logs: Read-only file system (os error 30)",
            base(&folder).display()
        )
    );
}
