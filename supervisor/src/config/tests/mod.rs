//! Tests of `load` and `render` against files on disk, as operators write them.

mod documents;
mod errors;
mod fuzz;
mod fuzz_units;
mod parse;

use std::path::PathBuf;

use super::{ConfigError, Ecosystem, load};

/// A temporary folder holding one `ecosystem.toml`.
struct File {
    dir: tempfile::TempDir,
}

impl File {
    fn new(text: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("ecosystem.toml"), text).expect("write ecosystem.toml");
        Self { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("ecosystem.toml")
    }

    fn load(&self, env: Option<&str>) -> Result<Ecosystem, ConfigError> {
        load(&self.path(), env)
    }
}

/// Loads `text`, expecting success.
fn parse(text: &str) -> Ecosystem {
    parse_env(text, None)
}

fn parse_env(text: &str, env: Option<&str>) -> Ecosystem {
    File::new(text).load(env).unwrap_or_else(|e| panic!("{e}"))
}

/// Loads `text` with `--env env`, expecting an error, and returns its
/// message with the temp folder taken out, as a user giving the bare file
/// name would see it.
fn error_env(text: &str, env: Option<&str>) -> String {
    let file = File::new(text);
    let error = file.load(env).expect_err("the file should be refused");
    error
        .to_string()
        .replace(&file.path().display().to_string(), "ecosystem.toml")
}

fn error(text: &str) -> String {
    error_env(text, None)
}
