//! Ecosystem files for fuzzing, built from the schema's own keys: values
//! that suit each key most of the time (so that many documents load and
//! reach `render`), any TOML value otherwise, near-miss and arbitrary keys,
//! then an edit that breaks the text.

use proptest::prelude::*;

use crate::config::app::{APP_KEYS, HEALTH_KEYS, LOGS_KEYS, OWN_LOG_KEYS};
use crate::config::document::SUPERVISOR_KEYS;

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
        "wait_ready" | "autorestart" | "compress" | "pin_cpus" => vec!["true", "false"],
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
pub(super) fn schema_document() -> impl Strategy<Value = String> {
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
pub(super) enum Mutation {
    None,
    Cut(prop::sample::Index, usize),
    Insert(prop::sample::Index, String),
    RepeatLine(prop::sample::Index),
}

/// Most often no edit, else a cut, an insertion or a repeated line.
pub(super) fn mutation() -> impl Strategy<Value = Mutation> {
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

/// `text` with `mutation` applied, cutting and inserting at characters.
pub(super) fn mutate(text: &str, mutation: &Mutation) -> String {
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

/// The `--env` name a load is given, if any.
pub(super) fn env_name() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop::sample::select(vec!["prod", "staging", "nope"]).prop_map(str::to_owned))
}
