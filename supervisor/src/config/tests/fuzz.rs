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

use crate::config::app::{APP_KEYS, HEALTH_KEYS, LOGS_KEYS, OWN_LOG_KEYS};
use crate::config::document::{self, SUPERVISOR_KEYS};
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

/// A TOML string literal of `text`.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// Strings the parsers give meaning to, and near misses of them.
fn meaningful_string() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "5s",
        "250ms",
        "1m30s",
        "0ms",
        "0s",
        "1M",
        "5 parsecs",
        "-5s",
        "5",
        "1.5s",
        "1h 1M",
        "99999999999999999999d",
        "512M",
        "1g",
        "2GiB",
        "0",
        "-1M",
        "1.5G",
        "5X",
        "99999999999999999999GB",
        "18446744073709551615",
        "18446744073709551616",
        "max",
        "MAX",
        "SIGTERM",
        "term",
        "SIGKILL",
        "SIGFOO",
        "sig",
        "0.0.0.0:3000",
        "[::1]:3000",
        "127.0.0.1:0",
        "localhost:80",
        "[::1%2]:80",
        "1.2.3.4:99999",
        "/health",
        "health",
        "",
        " ",
        "text",
        "json",
        "JSON",
        "hourly",
        "daily",
        "weekly",
        "%Y-%m-%d",
        "%",
        "%Q",
        "%.3f%:z",
        "api",
        "all",
        "x.toml",
        "a/b",
        "../up",
        "é",
        "postgres://u:p@h/db",
        "a://u:p@h1,b://u:p@h2?password=x&y=1#f",
        "://@",
        "x://:@?&=#",
        "a\nb",
        "\u{0}",
        "\u{202e}",
    ])
    .prop_map(str::to_owned)
}

/// A TOML value written as text: right and wrong types, edge numbers.
fn value() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        4 => meaningful_string().prop_map(|s| quoted(&s)),
        2 => any::<String>().prop_map(|s| quoted(&s)),
        2 => any::<i64>().prop_map(|n| n.to_string()),
        2 => (-3i64..70_000).prop_map(|n| n.to_string()),
        1 => prop::sample::select(vec![
            "99999999999999999999", "-99999999999999999999", "0x7fffffff", "0o777", "0b101", "+5",
            "-0", "1_000", "4294967296", "-4294967296", "1.5", "-0.0", "inf", "nan", "1e400",
            "true", "false", "1979-05-27T07:32:00Z", "07:32:00", "[]", "{}",
        ])
        .prop_map(str::to_owned),
    ];
    scalar.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((key(HEALTH_KEYS.to_vec()), inner), 0..3).prop_map(|entries| {
                let mut seen = std::collections::BTreeSet::new();
                let body: Vec<String> = entries
                    .iter()
                    .filter(|(k, _)| seen.insert(k.clone()))
                    .map(|(k, v)| format!("{} = {v}", toml_key(k)))
                    .collect();
                format!("{{ {} }}", body.join(", "))
            }),
        ]
    })
}

/// `key` as TOML writes it: bare, or quoted on one line.
fn toml_key(key: &str) -> String {
    toml_writer::ToTomlKey::to_toml_key(key)
}

/// A key of `known`, a near miss, or any key at all.
fn key(known: Vec<&'static str>) -> impl Strategy<Value = String> {
    let known = prop::sample::select(known).prop_map(str::to_owned);
    prop_oneof![
        40 => known.clone(),
        1 => known.prop_map(|k| format!("{k}s")),
        1 => any::<String>(),
    ]
}

/// Values that suit `key`, as TOML text, so that many documents load.
fn fitting(key: &str) -> Vec<&'static str> {
    match key {
        "name" => vec!["\"api\"", "\"web\""],
        "command" | "file" | "out" | "error" | "user" | "group" | "cwd" | "log_dir" => {
            vec!["\"app\"", "\"sub/dir\"", "\"../x\"", "\"/abs/x\""]
        }
        "control_socket" => vec!["\"run/c.sock\""],
        "args" => vec!["[]", "[\"--port\", \"3000\"]", "[\"a\\nb\"]"],
        "instances" => vec!["\"max\"", "2", "-1", "4294967295", "-4294967295"],
        "listen" => vec!["[\"127.0.0.1:3000\"]", "[\"[::1]:0\", \"0.0.0.0:0\"]", "[]"],
        "admin_listen" => vec!["\"127.0.0.1:9615\"", "\"[::]:1\""],
        "listen_backlog" | "max_restarts" | "memory_check_samples" | "failures" | "retain" => {
            vec!["1", "65535", "16", "4294967295"]
        }
        "kill_signal" => vec!["\"SIGTERM\"", "\"int\"", "\"QUIT\""],
        "wait_ready" | "autorestart" | "compress" => vec!["true", "false"],
        "max_memory_restart" | "max_size" => vec![
            "\"512M\"",
            "1",
            "\"1T\"",
            "\"16383T\"",
            "\"18446744073709551615\"",
        ],
        "log_date_format" => vec!["\"%Y\"", "\"%H:%M:%S%.3f\"", "\"\""],
        "path" => vec!["\"/health\"", "\"/\""],
        "format" => vec!["\"json\"", "\"TEXT\""],
        "rotate_interval" => vec!["\"hourly\"", "\"Daily\""],
        "health_check" | "logs" => vec!["{}", "{ path = \"/h\" }"],
        "env" | "env_prod" => vec!["{ A = \"1\" }", "{}"],
        // Durations.
        _ => vec![
            "\"5s\"",
            "\"250ms\"",
            "\"1d1h1m1s1ms1us1ns\"",
            "\"0ms\"",
            "\"213503982334601d\"",
        ],
    }
}

/// `key = value`, the value most often one that suits the key.
fn entry(known: Vec<&'static str>) -> impl Strategy<Value = (String, String)> {
    key(known).prop_flat_map(|key| {
        let suits = prop::sample::select(fitting(&key)).prop_map(str::to_owned);
        let value = prop_oneof![15 => suits, 1 => value()];
        (Just(key), value)
    })
}

/// `key = value` lines for a table with `known` keys, each key once.
fn lines(known: &[&'static str], max: usize) -> impl Strategy<Value = String> + use<> {
    prop::collection::vec(entry(known.to_vec()), 0..max).prop_map(|entries| {
        let mut seen = std::collections::BTreeSet::new();
        entries
            .iter()
            .filter(|(k, _)| seen.insert(k.clone()))
            .map(|(k, v)| format!("{} = {v}\n", toml_key(k)))
            .collect()
    })
}

const ENV_TABLES: &[&str] = &["env", "env_prod", "env_staging"];
/// Keys of `[[apps]]` that the generator writes apart: name and command
/// first, the tables as their own sections.
const APART: &[&str] = &["name", "command", "health_check", "logs", "env"];
const ENV_NAMES: &[&str] = &["PORT", "DATABASE_URL", "API_TOKEN", "A=B", "", "A\nB", "é"];

/// One `[[apps]]` with its sub-tables, each present or not.
fn app() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        12 => prop::sample::select(vec!["api", "web", "api"]).prop_map(|n| format!("name = \"{n}\"\n")),
        1 => value().prop_map(|v| format!("name = {v}\n")),
        1 => Just(String::new()),
    ];
    let command = prop_oneof![
        12 => Just("command = \"app\"\n".to_owned()),
        1 => value().prop_map(|v| format!("command = {v}\n")),
        1 => Just(String::new()),
    ];
    let env_tables =
        prop::collection::btree_map(prop::sample::select(ENV_TABLES), lines(ENV_NAMES, 4), 0..3);
    let body_keys: Vec<&str> = APP_KEYS
        .iter()
        .filter(|k| !APART.contains(k))
        .copied()
        .collect();
    (
        name,
        command,
        lines(&body_keys, 8),
        prop::option::of(lines(HEALTH_KEYS, 5).prop_map(|b| format!("[apps.health_check]\n{b}"))),
        prop::option::of(lines(LOGS_KEYS, 5).prop_map(|b| format!("[apps.logs]\n{b}"))),
        env_tables,
    )
        .prop_map(|(name, command, body, health, logs, envs)| {
            let mut text = format!("[[apps]]\n{name}{command}{body}");
            text.extend(health);
            text.extend(logs);
            for (table, body) in envs {
                text.push_str(&format!("[apps.{table}]\n{body}"));
            }
            text
        })
}

/// A whole document: `[supervisor]` and its logs table or not, 0 to 3 apps.
fn document() -> impl Strategy<Value = String> {
    let supervisor_keys: Vec<&str> = SUPERVISOR_KEYS
        .iter()
        .filter(|k| **k != "logs")
        .copied()
        .collect();
    (
        prop::option::of(lines(&supervisor_keys, 5).prop_map(|b| format!("[supervisor]\n{b}"))),
        prop::option::of(lines(OWN_LOG_KEYS, 4).prop_map(|b| format!("[supervisor.logs]\n{b}"))),
        prop_oneof![1 => Just(Vec::new()), 9 => prop::collection::vec(app(), 1..4)],
    )
        .prop_map(|(supervisor, logs, apps)| {
            let mut text = supervisor.unwrap_or_default();
            text.extend(logs);
            text.extend(apps);
            text
        })
}

/// An edit of a document: a cut, an insertion, or a line said twice.
#[derive(Debug, Clone)]
enum Mutation {
    None,
    Cut(prop::sample::Index, usize),
    Insert(prop::sample::Index, String),
    RepeatLine(prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => Just(Mutation::None),
        1 => (any::<prop::sample::Index>(), 1usize..20).prop_map(|(at, n)| Mutation::Cut(at, n)),
        1 => (any::<prop::sample::Index>(), prop_oneof![
            any::<String>(),
            prop::sample::select(vec!["\"", "'''", "[", "]]", "=", "\n", "#", "\\", "\r\n", "\u{0}", "[[apps]]\n"])
                .prop_map(str::to_owned),
        ])
            .prop_map(|(at, s)| Mutation::Insert(at, s)),
        1 => any::<prop::sample::Index>().prop_map(Mutation::RepeatLine),
    ]
}

fn mutate(text: &str, mutation: &Mutation) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    match mutation {
        Mutation::None => {}
        Mutation::Cut(at, n) if !chars.is_empty() => {
            let start = at.index(chars.len());
            chars.drain(start..(start + n).min(chars.len()));
        }
        Mutation::Insert(at, s) => {
            let at = at.index(chars.len() + 1);
            chars.splice(at..at, s.chars());
        }
        Mutation::RepeatLine(at) => {
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            if !lines.is_empty() {
                let i = at.index(lines.len());
                let mut out: String = lines[..=i].concat();
                out.push_str(lines[i]);
                out.push_str(&lines[i + 1..].concat());
                return out;
            }
        }
        Mutation::Cut(..) => {}
    }
    chars.into_iter().collect()
}

fn env_name() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop::sample::select(vec!["prod", "staging", "nope"]).prop_map(str::to_owned))
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
    fn fuzz_config_schema_documents(doc in document(), edit in mutation(), env in env_name()) {
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

/// Found by `fuzz_config_any_text`: an unknown key with a newline made a
/// message of two lines; it is shown quoted, as TOML writes it.
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
