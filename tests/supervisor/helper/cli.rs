//! Running `corral <verb>` the way an operator does, against a supervisor
//! a test started.

use std::path::Path;
use std::process::Command;

use super::{Corral, corral_bin};

/// What one `corral` run printed and how it ended.
#[derive(Debug)]
pub struct Ran {
    /// The exit code (-1 if killed by a signal).
    pub code: i32,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

/// Runs `corral args...` in `dir` and waits for it.
pub fn corral_cli(dir: &Path, args: &[&str]) -> Ran {
    corral_cli_with(dir, args, |_| {})
}

/// As [`corral_cli`], letting the test adjust the command first.
pub fn corral_cli_with(dir: &Path, args: &[&str], adjust: impl FnOnce(&mut Command)) -> Ran {
    let mut command = Command::new(corral_bin());
    command
        .args(args)
        .current_dir(dir)
        .env_remove("CORRAL_SOCKET");
    adjust(&mut command);
    let output = command.output().expect("run corral");
    Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

impl Corral {
    /// The supervisor's control socket (the default `run/corral.sock`).
    pub fn socket(&self) -> std::path::PathBuf {
        self.dir().join("run/corral.sock")
    }

    /// Runs `corral args... --socket <its socket>` in its folder.
    pub fn cli(&self, args: &[&str]) -> Ran {
        let socket = self.socket();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--socket", socket.to_str().expect("utf-8 path")]);
        corral_cli(self.dir(), &all)
    }

    /// As [`Corral::cli`], expecting exit 0; returns stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let ran = self.cli(args);
        assert_eq!(ran.code, 0, "corral {args:?}: {ran:?}");
        ran.stdout
    }
}

/// Fails the test unless `doc` is valid under `docs/status.schema.json`
/// (checked by Python's `jsonschema`, formats included, from the test
/// venv; skipped, saying so, on a machine that cannot make one).
pub fn check_status_schema(doc: &serde_json::Value) {
    let Some(venv) = super::runtimes::python_venv() else {
        return;
    };
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/status.schema.json");
    let mut document = tempfile::NamedTempFile::new().expect("a temp file");
    std::io::Write::write_all(&mut document, doc.to_string().as_bytes()).expect("write it");
    let checked = Command::new(venv.join("bin/python"))
        .args([
            "-c",
            "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[1]))\n\
             jsonschema.Draft202012Validator.check_schema(schema)\n\
             checker = jsonschema.Draft202012Validator.FORMAT_CHECKER\n\
             assert 'date-time' in checker.checkers, 'no date-time checker'\n\
             jsonschema.validate(json.load(open(sys.argv[2])), schema, format_checker=checker)",
        ])
        .arg(&schema)
        .arg(document.path())
        .output()
        .expect("run the validator");
    assert!(
        checked.status.success(),
        "{doc:#}\n{}",
        String::from_utf8_lossy(&checked.stderr)
    );
}
