//! A log folder or file that cannot be written is refused before anything
//! starts, instead of being found out line by line once workers run.
//!
//! [`check`] (for `corral check`) changes nothing on disk: a folder that
//! does not exist yet passes if the nearest existing ancestor is a folder
//! this process may write and enter, so `corral run` could create it.
//! [`prepare`] (for `corral run` and reloads) creates the folders. Both ask
//! the kernel with eaccess(3) (access(2) for the effective ids), so root
//! fails only on a read-only filesystem or where a folder is a file. A
//! full disk is not a setup error: the log writer counts what it drops and
//! resumes when space returns.
//!
//! `log_dir` itself is proven writable at run time by its lock file
//! ([`crate::lock`]).

use std::io;
use std::path::{Path, PathBuf};

use nix::unistd::{AccessFlags, eaccess};

use crate::config::{AppConfig, Ecosystem};

/// A log folder or file this process cannot write.
#[derive(Debug, thiserror::Error)]
pub enum LogSetupError {
    /// Files cannot be created in the folder (or the folder cannot be).
    // The OS error is part of the sentence rather than a `source`, so that a
    // chain printer (`{:#}`) does not repeat it.
    #[error("cannot write logs in {}: {error}", dir.display())]
    Dir {
        /// The folder as configured.
        dir: PathBuf,
        /// What the operating system said.
        error: io::Error,
    },
    /// The file exists and cannot be opened for writing.
    #[error("cannot write the log file {}: {error}", file.display())]
    File {
        /// The file, resolved against `log_dir`.
        file: PathBuf,
        /// What the operating system said.
        error: io::Error,
    },
}

/// Whether `log_dir` and every app's log files could be written, without
/// creating anything.
pub fn check(eco: &Ecosystem) -> Result<(), LogSetupError> {
    let log_dir = &eco.supervisor.log_dir;
    dir_writable(log_dir).map_err(|error| LogSetupError::Dir {
        dir: log_dir.clone(),
        error,
    })?;
    for file in log_files(log_dir, &eco.apps) {
        file_writable(&file)?;
    }
    Ok(())
}

/// [`check`], then creates the folder of every app's log file, so that
/// `corral run` refuses what `corral check` refuses, in the same words.
/// `log_dir` itself is created by its lock.
pub fn prepare(eco: &Ecosystem) -> Result<(), LogSetupError> {
    check(eco)?;
    for file in log_files(&eco.supervisor.log_dir, &eco.apps) {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(|error| LogSetupError::Dir {
                dir: dir.to_owned(),
                error,
            })?;
        }
    }
    Ok(())
}

/// Every app's out and error file; a relative name is in `log_dir`.
fn log_files(log_dir: &Path, apps: &[AppConfig]) -> Vec<PathBuf> {
    apps.iter()
        .flat_map(|app| [&app.logs.out, &app.logs.error])
        .map(|name| log_dir.join(name))
        .collect()
}

/// A file that exists must be writable and not a folder; one that does
/// not must be creatable in its folder.
fn file_writable(file: &Path) -> Result<(), LogSetupError> {
    let refused = |error| LogSetupError::File {
        file: file.to_owned(),
        error,
    };
    match std::fs::metadata(file) {
        Ok(meta) if meta.is_dir() => Err(refused(io::Error::from_raw_os_error(libc::EISDIR))),
        Ok(_) => eaccess(file, AccessFlags::W_OK).map_err(|errno| refused(errno.into())),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            let dir = file.parent().unwrap_or(Path::new("/"));
            dir_writable(dir).map_err(|error| LogSetupError::Dir {
                dir: dir.to_owned(),
                error,
            })
        }
        Err(error) => Err(refused(error)),
    }
}

/// Whether files could be created in `dir`, creating `dir` first if need
/// be: its nearest existing ancestor must be a folder we may write and
/// enter. An ancestor that is a file fails with ENOTDIR.
fn dir_writable(dir: &Path) -> io::Result<()> {
    let mut at = dir;
    let meta = loop {
        match std::fs::metadata(at) {
            Ok(meta) => break meta,
            Err(err) if err.kind() == io::ErrorKind::NotFound => match at.parent() {
                Some(parent) => at = parent,
                None => return Err(err),
            },
            Err(err) => return Err(err),
        }
    };
    if !meta.is_dir() {
        return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
    }
    Ok(eaccess(at, AccessFlags::W_OK | AccessFlags::X_OK)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_folder_under_a_writable_one_passes_and_is_not_created() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("a/b/logs");
        dir_writable(&dir).expect("creatable");
        assert!(!tmp.path().join("a").exists(), "check created a folder");
    }

    #[test]
    fn a_folder_under_a_regular_file_is_not_a_directory() {
        let tmp = tempfile::tempdir().expect("temp dir");
        std::fs::write(tmp.path().join("file"), "").expect("file");
        for dir in ["file", "file/logs", "file/logs/deeper"] {
            let err = dir_writable(&tmp.path().join(dir)).expect_err(dir);
            assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR), "{dir}: {err}");
        }
    }

    #[test]
    fn a_log_file_that_is_a_folder_is_refused() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let err = file_writable(tmp.path()).expect_err("a folder");
        assert!(
            err.to_string().ends_with("Is a directory (os error 21)"),
            "{err}"
        );
    }

    #[test]
    fn an_existing_writable_file_passes_whatever_its_folder() {
        // /dev is not writable for a normal user; /dev/full is, by anyone.
        file_writable(Path::new("/dev/full")).expect("/dev/full is writable");
    }
}
