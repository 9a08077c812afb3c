//! The third-party servers the recipe tests run: a Python virtualenv with the
//! pinned gunicorn and uvicorn of `tests/workers/requirements.txt`, made once
//! under the target directory, and the machine's Node.js.
//!
//! A machine without `python3 -m venv`, pip or `node` skips those tests and
//! says so on stderr; a pip install that fails (PyPI unreachable, a pin gone)
//! fails the test, with pip's output.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nix::fcntl::{Flock, FlockArg};

/// The folder of the non-Rust test workers (`tests/workers`).
pub fn workers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("workers")
}

/// The target directory (`target/`), where the venv is kept across runs.
fn target_dir() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_test-worker"));
    bin.ancestors().nth(2).expect("target dir").to_path_buf()
}

/// The venv with the pinned servers, created or brought up to date with the
/// requirements file on first use; `None` (after saying why) when this
/// machine cannot make one.
///
/// An exclusive lock on `target/test-venv.lock` serialises tests in parallel
/// and concurrent `cargo test` runs; a stamp written last (a copy of the
/// requirements) marks a finished venv, so one interrupted half-way is made
/// again rather than used.
pub fn python_venv() -> Option<PathBuf> {
    let target = target_dir();
    let venv = target.join("test-venv");
    let lock = File::create(target.join("test-venv.lock")).expect("create the venv lock file");
    let _guard = Flock::lock(lock, FlockArg::LockExclusive)
        .map_err(|(_, err)| err)
        .expect("lock the venv lock file");
    let requirements_file = workers_dir().join("requirements.txt");
    let requirements = fs::read_to_string(&requirements_file).expect("read requirements.txt");
    let stamp = venv.join("corral-requirements.txt");
    if fs::read_to_string(&stamp).is_ok_and(|done| done == requirements) {
        return Some(venv);
    }
    let _ = fs::remove_dir_all(&venv);
    eprintln!("creating {} (once per checkout)", venv.display());
    let created = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output();
    match created {
        Err(err) => return skip(&format!("python3 cannot be run ({err})")),
        Ok(out) if !out.status.success() => {
            return skip(&format!("`python3 -m venv` failed: {}", text(&out)));
        }
        Ok(_) => {}
    }
    let python = venv.join("bin/python");
    let pip = Command::new(&python)
        .args(["-m", "pip", "--version"])
        .output();
    if !pip.as_ref().is_ok_and(|out| out.status.success()) {
        return skip("the venv has no pip (install python3-pip / python3-venv)");
    }
    let install = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
        ])
        .arg("-r")
        .arg(&requirements_file)
        .output()
        .expect("run pip");
    assert!(
        install.status.success(),
        "pip could not install {}: {}",
        requirements_file.display(),
        text(&install)
    );
    fs::write(&stamp, requirements).expect("write the venv stamp");
    Some(venv)
}

/// Whether `node` runs here; `None` (after saying why) when it does not.
pub fn node() -> Option<String> {
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => Some(text(&out)),
        Ok(out) => skip(&format!("`node --version` failed: {}", text(&out))),
        Err(err) => skip(&format!("node cannot be run ({err})")),
    }
}

fn skip<T>(why: &str) -> Option<T> {
    eprintln!("skipped: {why}");
    None
}

fn text(out: &Output) -> String {
    let streams = [&out.stdout, &out.stderr].map(|s| String::from_utf8_lossy(s).trim().to_owned());
    streams
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}
