//! Fuzzing the ecosystem parser: random text, and documents built from the
//! schema's own keys with random values, then mutated. Whatever the input,
//! `parse` returns a config or an error that names the file and, unless the
//! problem is the file as a whole, a `line:column` inside it, on one line.
//! A config it accepts prints (`corral check`) as TOML that loads back to
//! the same config.
//!
//! 256 cases per property by default; `PROPTEST_CASES=100000 cargo test -p
//! corral fuzz_` runs longer. Failures are saved in `proptest-regressions/`
//! and replayed first on every run.

use std::path::Path;

use proptest::prelude::*;

use super::documents::{env_name, mutate, mutation, schema_document};
use crate::config::document;
use crate::config::error::Source;
use crate::config::{AppConfig, ConfigError, Ecosystem, Instances, Problem, render};

const FILE: &str = "fuzz/ecosystem.toml";
const BASE: &str = "/srv/fuzz";
const CPUS: usize = 4;

/// Parses `text` as if read from [`FILE`] and checks the promise of the
/// module doc, whichever way it goes.
fn check(text: &str, env: Option<&str>) -> Result<(), TestCaseError> {
    let src = Source {
        path: Path::new(FILE),
        text,
    };
    match document::parse(&src, Path::new(BASE), env) {
        Ok((supervisor, apps)) => {
            let eco = Ecosystem {
                path: Path::new(BASE).join("ecosystem.toml"),
                base_dir: BASE.into(),
                supervisor,
                apps,
            };
            check_render(&eco)
        }
        Err(error) => check_error(text, &error),
    }
}

/// An error names the file, and a line of the text and a column unless it
/// is about the whole file, on one line.
fn check_error(text: &str, error: &ConfigError) -> Result<(), TestCaseError> {
    let shown = error.to_string();
    prop_assert!(
        !shown.contains('\n'),
        "a message of several lines: {shown:?}"
    );
    let ConfigError::Invalid { path, at, problem } = error else {
        return Err(TestCaseError::fail(format!("not about the text: {shown}")));
    };
    prop_assert_eq!(path, Path::new(FILE));
    match at {
        Some(at) => {
            let prefix = format!("{FILE}:{}:{}: ", at.line, at.column);
            prop_assert!(shown.starts_with(&prefix), "{shown:?} lacks {prefix:?}");
            prop_assert!(at.line >= 1 && at.column >= 1, "{shown}");
            prop_assert!(
                at.line <= text.split('\n').count(),
                "{shown} beyond the text"
            );
        }
        None => prop_assert!(
            matches!(problem, Problem::NoApps | Problem::UnusedEnv(_)),
            "a problem without a position: {shown}"
        ),
    }
    Ok(())
}

/// What `corral check` prints loads again to the config it was printed from
/// (with `instances` resolved and secrets masked, as the printout says).
fn check_render(eco: &Ecosystem) -> Result<(), TestCaseError> {
    let rendered = render(eco, CPUS);
    let src = Source {
        path: Path::new(FILE),
        text: &rendered,
    };
    let (supervisor, apps) = document::parse(&src, Path::new(BASE), None)
        .map_err(|e| TestCaseError::fail(format!("the printout does not load: {e}\n{rendered}")))?;
    prop_assert_eq!(&supervisor, &eco.supervisor, "{}", rendered);
    let printed = |app: &AppConfig| AppConfig {
        instances: Instances::Count(app.instances.resolve(CPUS) as u32),
        env: app.env.keys().map(|k| (k.clone(), String::new())).collect(),
        ..app.clone()
    };
    let expected: Vec<_> = eco.apps.iter().map(printed).collect();
    let got: Vec<_> = apps.iter().map(printed).collect();
    prop_assert_eq!(got, expected, "{}", rendered);
    Ok(())
}

proptest! {
    #[test]
    fn fuzz_config_any_text(text in any::<String>(), env in env_name()) {
        check(&text, env.as_deref())?;
    }

    #[test]
    fn fuzz_config_toml_like_text(text in "([\\[\\]=\"'.,{} \n#a-z_0-9-]|apps|supervisor|\\\\u)*", env in env_name()) {
        check(&text, env.as_deref())?;
    }

    #[test]
    fn fuzz_config_schema_documents(doc in schema_document(), edit in mutation(), env in env_name()) {
        check(&mutate(&doc, &edit), env.as_deref())?;
    }
}

/// Bytes that are not UTF-8 are refused when the file is read, naming it.
#[test]
fn fuzz_config_regression_non_utf8_file_names_the_file() {
    let file = super::File::new("");
    std::fs::write(file.path(), b"[[apps]]\nname = \"\xff\"\n").expect("write");
    let error = file.load(None).expect_err("not UTF-8");
    let shown = error.to_string();
    assert!(
        shown.starts_with(&format!("cannot read {}: ", file.path().display())),
        "{shown}"
    );
    assert!(shown.contains("UTF-8"), "{shown}");
}

const APP: &str = "[[apps]]\nname = \"api\"\ncommand = \"app\"\n";

/// Found by `fuzz_config_schema_documents`: an env name with a newline was
/// printed by `corral check` as a multi-line string key, which TOML refuses.
#[test]
fn fuzz_config_regression_env_name_with_newline_prints_as_a_loadable_key() {
    let text = format!("{APP}[apps.env]\n\"A\\nB\" = \"1\"\n\"A B\" = \"2\"\n");
    let rendered = render(&super::parse(&text), CPUS);
    assert!(rendered.contains("\n\"A\\nB\" = \"1\"\n"), "{rendered}");
    assert!(rendered.contains("\n\"A B\" = \"2\"\n"), "{rendered}");
    check(&text, None).expect("prints as TOML that loads back");
}

/// Found while building these fuzz targets: an unknown key with a newline
/// made a message of two lines; it is shown quoted, as TOML writes it.
#[test]
fn fuzz_config_regression_unknown_key_with_newline_stays_on_one_line() {
    let shown = super::error(&format!("{APP}\"a\\nb\" = 1\n"));
    assert!(
        shown.starts_with("ecosystem.toml:4:1: unknown key `\"a\\nb\"` in [[apps]];"),
        "{shown}"
    );
    let shown = super::error(&format!("{APP}[apps.env]\n\"X\\nY\" = []\n"));
    assert_eq!(
        shown,
        "ecosystem.toml:5:10: apps[0].env.\"X\\nY\": expected a string, number or boolean, found an array"
    );
}

/// Found while reading the env table for the fuzz target: an integer beyond
/// 64 bits became an empty variable without a word.
#[test]
fn fuzz_config_regression_env_integer_beyond_64_bits_is_refused() {
    let shown = super::error(&format!("{APP}[apps.env]\nBIG = 99999999999999999999\n"));
    assert_eq!(
        shown,
        "ecosystem.toml:5:7: apps[0].env.BIG: does not fit in 64 bits; write it as a string"
    );
}
